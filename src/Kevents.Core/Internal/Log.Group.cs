using Microsoft.Extensions.Logging;

namespace Kevents.Internal;

// EventLoopGroup's messages take ids from 40 up, apart from the loop's own.
internal static partial class Log
{
    [LoggerMessage(EventId = 40, EventName = "AffinityFailed", Level = LogLevel.Warning,
        Message = "Loop {Loop} could not be pinned to CPU {Cpu} ({Error}); it runs wherever the scheduler puts it")]
    public static partial void AffinityFailed(ILogger logger, string loop, int cpu, string error);

    [LoggerMessage(EventId = 41, EventName = "GroupLoopFailed", Level = LogLevel.Critical,
        Message = "The thread of loop {Loop} ended with an exception; the group's other loops keep running until it is stopped")]
    public static partial void GroupLoopFailed(ILogger logger, string loop, Exception exception);

    [LoggerMessage(EventId = 42, EventName = "AffinityUnavailable", Level = LogLevel.Warning,
        Message = "PinToCpus was asked for, but the CPUs this process may use could not be read; the group's loops run unpinned")]
    public static partial void AffinityUnavailable(ILogger logger);
}
