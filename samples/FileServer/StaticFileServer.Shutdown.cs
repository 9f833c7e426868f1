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
        _server.StopAccepting();
        _shutdownDeadlineNs = _loop.NowNanoseconds + Math.Max(1, drainTimeout.Ticks * 100);
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
}
