using Microsoft.Extensions.Logging;

namespace Kevents.Net.Internal;

// The listener's accept path: back-off on listener failures, per-connection failures, shedding at the descriptor
// reserve (ids 130-139).
internal static partial class NetLog
{
    [LoggerMessage(EventId = 130, EventName = "AcceptFailedPausing", Level = LogLevel.Warning,
        Message = "accept on {EndPoint} failed: {Error}; paused accepting for {PauseMs} ms (logged at most once a second)")]
    public static partial void AcceptFailedPausing(ILogger logger, string endPoint, string error, long pauseMs);

    [LoggerMessage(EventId = 131, EventName = "PendingConnectionFailed", Level = LogLevel.Debug,
        Message = "A pending connection on {EndPoint} failed before it was accepted: {Error}")]
    public static partial void PendingConnectionFailed(ILogger logger, string endPoint, string error);

    [LoggerMessage(EventId = 132, EventName = "SheddingForDescriptors", Level = LogLevel.Warning,
        Message = "Fewer than {Reserve} of {Limit} descriptors are free in this process: new connections on {EndPoint} are closed at once ({Shed} since the last report) until some are freed. Raise RLIMIT_NOFILE, or lower ServerOptions.MaxConnections or DescriptorReserve")]
    public static partial void SheddingForDescriptors(ILogger logger, string endPoint, int reserve, long limit, long shed);

}
