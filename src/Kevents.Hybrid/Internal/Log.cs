using Microsoft.Extensions.Logging;

namespace Kevents.Hybrid.Internal;

/// <summary>Kevents.Hybrid's log messages: stable event ids in Hybrid's range, 200-299 (Core has 1-99, Net 100-199,
/// File 300-399), formatted only when their level is enabled.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 201, EventName = "LoopBlocked", Level = LogLevel.Warning,
        Message = "Loop {Loop} was held for {HeldMs:F1} ms (threshold {ThresholdMs} ms) by {What}{Kevent}; move blocking code into a threadlet (t.Blocking) so the loop keeps serving events")]
    public static partial void LoopBlocked(ILogger logger, string loop, double heldMs, double thresholdMs, string what, string kevent);

    [LoggerMessage(EventId = 202, EventName = "ThreadletStuckAtShutdown", Level = LogLevel.Warning,
        Message = "Loop {Loop} shut down while threadlet {Id} ({Kind}) was still running after {RunningMs:F0} ms, in {Step}; its result will not be delivered on the loop")]
    public static partial void ThreadletStuckAtShutdown(ILogger logger, string loop, ulong id, string kind, double runningMs, string step);

    [LoggerMessage(EventId = 203, EventName = "ThreadletKindCold", Level = LogLevel.Information,
        Message = "Threadlet kind {Kind} blocked {Blocks} times when run inline; it now starts on a cache-miss thread ({Route}) and is tried inline again in {RetryMs:F0} ms")]
    public static partial void ThreadletKindCold(ILogger logger, string kind, int blocks, string route, double retryMs);

    [LoggerMessage(EventId = 204, EventName = "ThreadletKindWarm", Level = LogLevel.Debug,
        Message = "Threadlet kind {Kind} ran inline without blocking again; it starts inline from now on")]
    public static partial void ThreadletKindWarm(ILogger logger, string kind);

    [LoggerMessage(EventId = 205, EventName = "ThreadletFailed", Level = LogLevel.Debug,
        Message = "Threadlet {Id} ({Kind}) failed; its completion kevent carries {Error}")]
    public static partial void ThreadletFailed(ILogger logger, ulong id, string kind, string error, Exception exception);

    [LoggerMessage(EventId = 206, EventName = "QueuedWorkCancelledAtShutdown", Level = LogLevel.Information,
        Message = "Loop {Loop} shut down with {Count} threadlet operations still queued; they were cancelled")]
    public static partial void QueuedWorkCancelledAtShutdown(ILogger logger, string loop, int count);

    [LoggerMessage(EventId = 207, EventName = "ThreadStartFailed", Level = LogLevel.Warning,
        Message = "Loop {Loop}: a {WorkClass} cache-miss thread could not start; queued work waits for the threads already running, or is refused when there are none")]
    public static partial void ThreadStartFailed(ILogger logger, string loop, string workClass, Exception exception);
}
