using Microsoft.Extensions.Logging;

namespace Kevents.File.Internal;

/// <summary>Kevents.File's log messages (event ids 300-399; Core has 1-99, Net 100-199, Hybrid 200-299).</summary>
internal static partial class Log
{
    [LoggerMessage(300, LogLevel.Information, "Loop '{Loop}': io_uring is unavailable ({Reason}); file operations run on threadlets.", EventName = "FellBackToThreadlets")]
    public static partial void FellBackToThreadlets(ILogger logger, string loop, string reason);

    [LoggerMessage(301, LogLevel.Error, "Loop '{Loop}': io_uring_enter failed: {Reason}. Queued file operations wait for the next attempt.", EventName = "SubmitFailed")]
    public static partial void SubmitFailed(ILogger logger, string loop, string reason);

    [LoggerMessage(302, LogLevel.Warning, "An io_uring completion for unknown operation {UserData} (result {Result}) was ignored.", EventName = "UnknownCompletion")]
    public static partial void UnknownCompletion(ILogger logger, ulong userData, int result);

    [LoggerMessage(303, LogLevel.Error, "Loop '{Loop}': the kernel dropped {Count} io_uring completions (no IORING_FEAT_NODROP, or out of memory); their operations never complete.", EventName = "CompletionsDropped")]
    public static partial void CompletionsDropped(ILogger logger, string loop, uint count);

    [LoggerMessage(304, LogLevel.Warning, "Loop '{Loop}': {Count} file operations were still in flight {Timeout} after shutdown began; their buffers stay pinned.", EventName = "OperationsAbandoned")]
    public static partial void OperationsAbandoned(ILogger logger, string loop, int count, TimeSpan timeout);
}
