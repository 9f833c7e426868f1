using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// Arbitrary blocking code: straight to a cache-miss thread from the loop, inline once off it.
public sealed partial class Threadlet
{
    /// <summary>
    /// Runs <paramref name="work"/>, code known to block (DNS, a synchronous library, heavy CPU). On the loop it goes
    /// to a cache-miss thread of <paramref name="workClass"/>, and the rest of the threadlet continues there; off the
    /// loop it simply runs.
    /// </summary>
    /// <exception cref="ThreadletQueueFullException">The class's queue was full and the policy rejects.</exception>
    public ThreadletOperation<T> Blocking<T>(Func<T> work, WorkClass workClass = WorkClass.Short)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Blocking(static (_, w) => w(), work, workClass);
    }

    /// <summary>
    /// Like <see cref="Blocking{T}(Func{T}, WorkClass)"/>, passing <see cref="CancellationToken"/> to
    /// <paramref name="work"/> so long work can stop when the threadlet is cancelled or the loop shuts down.
    /// </summary>
    public ThreadletOperation<T> Blocking<T>(Func<CancellationToken, T> work, WorkClass workClass = WorkClass.Short)
    {
        ArgumentNullException.ThrowIfNull(work);
        return Blocking(static (token, w) => w(token), work, workClass);
    }

    private ThreadletOperation<T> Blocking<T, TWork>(Func<CancellationToken, TWork, T> run, TWork work, WorkClass workClass)
        where TWork : Delegate
    {
        ThrowIfCancelled();
        if (!IsOnLoop)
        {
            return new(RunBlocking(run, work));
        }
        // Reuse this handle's last blocking op when it has the same shape and is finished: the offload path then
        // allocates nothing for the op (no closure either: run and work travel separately).
        if (SpareOp is BlockingOp<T, TWork> spare)
        {
            SpareOp = null;
            spare.Reuse(run, work, workClass);
            return new(spare);
        }
        return new(new BlockingOp<T, TWork>(this, run, work, workClass));
    }

    internal T RunBlocking<T, TWork>(Func<CancellationToken, TWork, T> run, TWork work)
        where TWork : Delegate
    {
        EnterStep("blocking work", work);
        try
        {
            return run(CancellationToken, work);
        }
        finally
        {
            LeaveStep();
        }
    }
}
