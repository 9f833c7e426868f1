using System.Runtime.CompilerServices;

namespace Kevents.Native;

/// <summary>
/// The switch behind fault injection: while a test has armed a <see cref="FaultPlan"/>, the wrappers that name a
/// <see cref="FaultSite"/> ask it, before the real call, whether to fail with a chosen errno or to move fewer
/// bytes than asked. Disarmed (always, outside tests) each check is one static load and a null test.
/// </summary>
/// <remarks>
/// An injected failure replaces the real call, so the kernel's state is untouched: an injected EINTR is retried by
/// the funnel's loop (<see cref="Sys"/>) exactly as a real one, an injected EAGAIN looks like a spurious wake-up, and an
/// injected ECONNRESET or EMFILE takes the same path as the kernel's. A short transfer is a real call with a smaller
/// length. Plans are process-wide: test assemblies that arm them run their tests one at a time.
/// </remarks>
internal static class FaultInjection
{
    private static FaultPlan? s_plan;

    /// <summary>The armed plan, if any.</summary>
    internal static FaultPlan? Plan => Volatile.Read(ref s_plan);

    /// <summary>Arms <paramref name="plan"/> until the returned scope is disposed. Only one plan is armed at a time.</summary>
    internal static IDisposable Arm(FaultPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (Interlocked.CompareExchange(ref s_plan, plan, null) is not null)
        {
            throw new InvalidOperationException("A fault plan is already armed; dispose its scope before arming another.");
        }
        return new Scope(plan);
    }

    /// <summary>
    /// True when the armed plan fails this call at <paramref name="site"/> on <paramref name="fd"/>;
    /// <paramref name="errno"/> is then the (positive) errno to report.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Fails(FaultSite site, int fd, out int errno)
    {
        FaultPlan? plan = Volatile.Read(ref s_plan);
        if (plan is null)
        {
            errno = 0;
            return false;
        }
        return plan.TryFail(site, fd, out errno);
    }

    /// <summary>The length the call at <paramref name="site"/> should really ask for: <paramref name="length"/>, or less under a plan that shortens transfers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Length(FaultSite site, int fd, int length)
    {
        FaultPlan? plan = Volatile.Read(ref s_plan);
        return plan is null || length <= 1 ? length : plan.Shorten(site, fd, length);
    }

    private sealed class Scope(FaultPlan plan) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.CompareExchange(ref s_plan, null, plan);
            }
        }
    }
}
