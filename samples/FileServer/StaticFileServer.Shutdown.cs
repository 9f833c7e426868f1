using Kevents;

namespace FileServer;

// Graceful shutdown: the listener closes at once, idle connections close at once, connections in the middle of a
// response finish it and then close, and whatever is still open at the deadline is aborted (docs/reliability.md, graceful shutdown).
internal sealed partial class StaticFileServer
{
    private TaskCompletionSource? _drained;
    private long _shutdownDeadlineNs;

    /// <summary>Drains as described above; completes when no connection is left. Safe from any thread.</summary>
    public Task ShutdownAsync(TimeSpan drainTimeout)
    {
        if (drainTimeout < TimeSpan.Zero && drainTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), drainTimeout,
                "The drain timeout must be zero or more, or Timeout.InfiniteTimeSpan to wait for every connection.");
        }
        if (!_loop.IsOnLoopThread && _loop.IsRunning)
        {
            var posted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _loop.Post(() => ShutdownAsync(drainTimeout).ContinueWith(_ => posted.TrySetResult(), TaskScheduler.Default));
            return posted.Task;
        }
        if (_drained is not null)
        {
            return _drained.Task;
        }
        _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server?.StopAccepting();
        _shutdownDeadlineNs = DeadlineAfter(drainTimeout);
        for (HttpConnection? c = _firstLive; c is not null;)
        {
            HttpConnection? next = c.NextLive;
            c.RequestShutdown();
            c = next;
        }
        if (ConnectionCount == 0)
        {
            _drained.TrySetResult();
        }
        return _drained.Task;
    }

    /// <summary>
    /// The loop time <paramref name="drainTimeout"/> from now, saturating: <see cref="Timeout.InfiniteTimeSpan"/> and
    /// spans too long to add up (<see cref="TimeSpan.MaxValue"/>) mean never, rather than overflowing into the past.
    /// </summary>
    private long DeadlineAfter(TimeSpan drainTimeout)
    {
        if (drainTimeout == Timeout.InfiniteTimeSpan)
        {
            return long.MaxValue;
        }
        long now = _loop.NowNanoseconds;
        long span = drainTimeout.Ticks > (long.MaxValue - now) / 100 ? long.MaxValue - now : drainTimeout.Ticks * 100;
        return now + Math.Max(1, span);
    }
}
