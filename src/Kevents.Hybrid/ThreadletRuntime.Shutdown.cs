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

        bool expired = false;
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
                if (InFlight == 0 || Volatile.Read(ref expired))
                {
                    break;
                }
                progress.Wait();
            }
        }

        var stuck = new List<StuckThreadlet>();
        long now = Now();
        foreach (ThreadletCompletion completion in InflightSnapshot())
        {
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

    /// <summary>Delivers completions whose kevent reached the ring but will never be dispatched now.</summary>
    private void DeliverFinished()
    {
        foreach (ThreadletCompletion completion in InflightSnapshot())
        {
            if (completion.IsFinished)
            {
                Forget(completion);
                completion.Deliver();
            }
        }
    }
}
