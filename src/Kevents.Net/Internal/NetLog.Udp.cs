using Microsoft.Extensions.Logging;

namespace Kevents.Net.Internal;

// UDP's messages, in their own file and id range (120-129) so they do not collide with the stream sockets' ones.
internal static partial class NetLog
{
    [LoggerMessage(EventId = 120, EventName = "UdpBound", Level = LogLevel.Debug, Message = "UDP socket {Id} bound to {EndPoint}")]
    public static partial void UdpBound(ILogger logger, long id, string endPoint);

    [LoggerMessage(EventId = 121, EventName = "UdpError", Level = LogLevel.Debug, Message = "UDP socket {Id}: {Error}")]
    public static partial void UdpError(ILogger logger, long id, string error);

    [LoggerMessage(EventId = 122, EventName = "UdpSendQueueFull", Level = LogLevel.Debug,
        Message = "UDP socket {Id}: send queue full ({Count} datagrams queued); dropped a datagram of {Size} bytes (UdpOptions.MaxQueuedDatagrams / MaxQueuedBytes)")]
    public static partial void UdpSendQueueFull(ILogger logger, long id, int count, int size);

    [LoggerMessage(EventId = 123, EventName = "UdpHandlerFailed", Level = LogLevel.Error, Message = "UDP socket {Id}: the datagram handler threw; the socket goes on with the next datagram")]
    public static partial void UdpHandlerFailed(ILogger logger, long id, Exception exception);
}
