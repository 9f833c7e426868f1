using Microsoft.Extensions.Logging;

namespace Kevents.Internal;

/// <summary>
/// Kevents.Core's log messages: stable event ids in Core's range, 1-99 (Net has 100-199, Hybrid 200-299, File 300-399,
/// the samples 1000 and up), formatted only when their level is enabled. One message per kind of failure.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "HandlerFailed", Level = LogLevel.Error,
        Message = "Handler {Handler} threw while handling {Kevent}; the loop goes on")]
    public static partial void HandlerFailed(ILogger logger, string handler, Kevent kevent, Exception exception);

    [LoggerMessage(EventId = 2, EventName = "PostedWorkFailed", Level = LogLevel.Error,
        Message = "Posted work {Callback} threw; the loop goes on")]
    public static partial void PostedWorkFailed(ILogger logger, string callback, Exception exception);

    [LoggerMessage(EventId = 3, EventName = "UnclaimedKevent", Level = LogLevel.Warning,
        Message = "{Kevent} arrived on loop '{Loop}', which dispatches with Run(), but it has no handler (a pull registration, or a completion nobody registered for), so it was lost. Register it with a handler, set a filter handler, or drive the loop with Poll (logged at most once a second)")]
    public static partial void UnclaimedKevent(ILogger logger, Kevent kevent, string loop);

    [LoggerMessage(EventId = 4, EventName = "PollerFailed", Level = LogLevel.Critical,
        Message = "epoll_wait failed with {Error}; the loop stops")]
    public static partial void PollerFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 5, EventName = "LoopStarted", Level = LogLevel.Debug,
        Message = "Loop {Name} running on thread {ThreadId}")]
    public static partial void LoopStarted(ILogger logger, string name, int threadId);

    [LoggerMessage(EventId = 6, EventName = "LoopStopped", Level = LogLevel.Debug,
        Message = "Loop {Name} stopped after {Iterations} iterations")]
    public static partial void LoopStopped(ILogger logger, string name, long iterations);

    [LoggerMessage(EventId = 8, EventName = "PostAfterDispose", Level = LogLevel.Debug,
        Message = "A continuation arrived after loop {Name} was disposed; it was dropped")]
    public static partial void PostAfterDispose(ILogger logger, string name);

    [LoggerMessage(EventId = 9, EventName = "StaleDescriptor", Level = LogLevel.Warning,
        Message = "Loop {Name}: epoll reported fd {Fd}, which is not registered. It was closed before it was unregistered while another descriptor (a dup, or a child process) still held the same file, so epoll kept watching it and would have held the loop at 100% CPU. Unregister before closing. The loop rebuilt its epoll set to drop it")]
    public static partial void StaleDescriptor(ILogger logger, string name, int fd);

    [LoggerMessage(EventId = 10, EventName = "PollerRebuildFailed", Level = LogLevel.Error,
        Message = "Loop {Name} could not rebuild its epoll set ({Error}); a descriptor closed before Unregister may keep it busy")]
    public static partial void PollerRebuildFailed(ILogger logger, string name, string error);

    // Debug: work posted while a loop shuts down (continuations, token callbacks) routinely finds it stopped.
    [LoggerMessage(EventId = 7, EventName = "PendingWorkDropped", Level = LogLevel.Debug,
        Message = "Loop {Name} was disposed with {Count} posted items that never ran")]
    public static partial void PendingWorkDropped(ILogger logger, string name, int count);

    [LoggerMessage(EventId = 11, EventName = "FeatureDisposeFailed", Level = LogLevel.Error,
        Message = "Feature {Feature} threw from Dispose while the loop was disposed; the remaining features are still disposed")]
    public static partial void FeatureDisposeFailed(ILogger logger, string feature, Exception exception);

    [LoggerMessage(EventId = 12, EventName = "BlockedReportFailed", Level = LogLevel.Error,
        Message = "The watchdog's report {Callback} threw while reporting a held loop; the slow handler is not treated as failed")]
    public static partial void BlockedReportFailed(ILogger logger, string callback, Exception exception);

    [LoggerMessage(EventId = 43, EventName = "BackendFallback", Level = LogLevel.Warning,
        Message = "Loop {Name} runs on epoll instead of io_uring: {Reason}")]
    public static partial void BackendFallback(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 44, EventName = "ReceiveBuffersGrown", Level = LogLevel.Debug,
        Message = "Loop {Name} ran out of io_uring receive buffers and now has {Count} ({KiB} KiB)")]
    public static partial void ReceiveBuffersGrown(ILogger logger, string name, int count, long kib);
}
