using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// Shutdown: cancel what is queued, give running threadlets until the deadline, then report the rest and return.
public sealed partial class ThreadletRuntime
{
    private int _shutdownStarted;

    /// <summary>
    /// Stops the runtime: no new threadlet starts; queued blocking operations are cancelled at once; threadlets running
    /// on cache-miss threads see their <see cref="Threadlet.CancellationToken"/> cancelled and get up to
    /// <paramref name="timeout"/> (measured on the loop's TimeProvider) to finish. Those still running then are logged
    /// (what and for how long) and listed in the report; shutdown returns without them. Disposing the loop calls this
    /// with <see cref="ThreadletOptions.ShutdownTimeout"/>. Safe from any thread except a cache-miss thread; a second
    /// call returns the first call's report.
    /// </summary>
    public ThreadletShutdownReport Shutdown(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _shutdownStarted, 1) != 0)
        {
            return LastShutdownReport ?? new ThreadletShutdownReport(TimeSpan.Zero, 0, []);
        }
        long started = Now();
        using var progress = new ManualResetEventSlim();
        _shutdownProgress = progress;

        // Cancelling the shutdown token cancels every queued op of an offloaded threadlet (its token is linked to it);
        // stopping the groups catches anything left and retires idle threads.
        long cancelledBefore = Interlocked.Read(ref _metrics.Cancelled);
        _shutdown.Cancel();
        _short.StopAndCancelQueued(new OperationCanceledException(ShutdownToken));
        _long.StopAndCancelQueued(new OperationCanceledException(ShutdownToken));
        int cancelled = (int)(Interlocked.Read(ref _metrics.Cancelled) - cancelledBefore);
        if (cancelled > 0)
        {
            Log.QueuedWorkCancelledAtShutdown(Logger, Loop.Name, cancelled);
        }

        // Wait for what still runs: up to the timeout, or longer for a threadlet whose layer asked for more (an
        // AsyncFile operation in its system call, whose buffer and descriptor stay held until the call returns).
        bool expired = false;
        bool extended = false;
        using (ITimer deadline = _time.CreateTimer(_ =>
        {
            Volatile.Write(ref expired, true);
            progress.Set();
        }, null, timeout, Timeout.InfiniteTimeSpan))
        {
            while (true)
            {
                progress.Reset();
                DeliverFinished();
                TimeSpan allowance = LongestAllowanceOfRunning(out bool anyRunning);
                if (!anyRunning)
                {
                    break;
                }
                if (Volatile.Read(ref expired))
                {
                    if (extended || allowance <= timeout)
                    {
                        break;
                    }
                    extended = true;
                    Volatile.Write(ref expired, false);
                    deadline.Change(allowance - timeout, Timeout.InfiniteTimeSpan);
                }
                progress.Wait();
            }
        }

        var stuck = new List<StuckThreadlet>();
        long now = Now();
        foreach (ThreadletCompletion completion in InflightSnapshot())
        {
            if (completion.IsFinished)
            {
                continue; // finished, waiting for the loop to dispatch its outcome
            }
            Threadlet threadlet = completion.Threadlet;
            TimeSpan running = threadlet.OffloadedAt == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)(now - threadlet.OffloadedAt) / _time.TimestampFrequency);
            var entry = new StuckThreadlet(completion.Id, DescribeKind(threadlet), threadlet.DescribeStep(), running);
            stuck.Add(entry);
            Log.ThreadletStuckAtShutdown(Logger, Loop.Name, entry.Id, entry.Kind, running.TotalMilliseconds, entry.Step);
        }
        var report = new ThreadletShutdownReport(_time.GetElapsedTime(started), cancelled, stuck);
        LastShutdownReport = report;
        _shutdownProgress = null;
        _metrics.Dispose();
        return report;
    }

    /// <summary>
    /// The loop is being disposed: no kevent is dispatched from now on, so every outcome is delivered where it is (a
    /// layer's callback learns the loop is gone). Shuts the runtime down with its own timeout if nothing did yet, and
    /// hands over what a shutdown while the loop still ran left for the loop. Called by whichever of the loop's
    /// features is disposed first (the runtime's, or Kevents.File's engines).
    /// </summary>
    internal void ShutdownForLoopDisposal()
    {
        Volatile.Write(ref _loopDisposing, true);
        Shutdown(_options.ShutdownTimeout);
        DeliverFinished();
    }

    private bool _loopDisposing;

    /// <summary>True once the loop is being disposed: see <see cref="ShutdownForLoopDisposal"/>.</summary>
    internal bool IsLoopDisposing => Volatile.Read(ref _loopDisposing);

    /// <summary>Delivers completions whose kevent reached the ring but will never be dispatched now.</summary>
    private void DeliverFinished()
    {
        bool loopDisposing = IsLoopDisposing;
        foreach (ThreadletCompletion completion in InflightSnapshot())
        {
            // A layer's callback stays for the loop while the loop can still dispatch it.
            if (completion.IsFinished && (loopDisposing || !completion.DeliversOnLoopUntilDisposed))
            {
                Forget(completion);
                completion.Deliver();
            }
        }
    }

    /// <summary>The longest shutdown allowance among threadlets still running; whether any is.</summary>
    private TimeSpan LongestAllowanceOfRunning(out bool anyRunning)
    {
        anyRunning = false;
        TimeSpan longest = TimeSpan.Zero;
        foreach (ThreadletCompletion completion in InflightSnapshot())
        {
            if (!completion.IsFinished)
            {
                anyRunning = true;
                longest = completion.ShutdownAllowance > longest ? completion.ShutdownAllowance : longest;
            }
        }
        return longest;
    }
}
