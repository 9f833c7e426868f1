namespace FileServer;

// Graceful shutdown, done by Kevents.Http: the listener closes at once, idle connections close at once, connections
// in the middle of a response finish it and then close, and whatever is still open at the deadline is aborted.
internal sealed partial class StaticFileServer
{
    public Task ShutdownAsync(TimeSpan drainTimeout)
    {
        if (drainTimeout < TimeSpan.Zero && drainTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), drainTimeout,
                "The drain timeout must be zero or more, or Timeout.InfiniteTimeSpan to wait for every connection.");
        }
        return _server?.ShutdownAsync(drainTimeout) ?? Task.CompletedTask;
    }
}
