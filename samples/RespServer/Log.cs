using Microsoft.Extensions.Logging;

namespace RespServer;

/// <summary>The RESP server's log lines, event ids 1300-1399. Client misbehaviour is Debug; only the server's own trouble goes above Information.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1301, EventName = "Listening", Level = LogLevel.Information, Message = "RESP server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 1302, EventName = "ProtocolError", Level = LogLevel.Debug, Message = "Client {ClientId}: protocol error ({Error}); closing it")]
    public static partial void ProtocolError(ILogger logger, long clientId, string error);

    [LoggerMessage(EventId = 1303, EventName = "ClientClosed", Level = LogLevel.Debug, Message = "Client {ClientId} closed: {Reason}")]
    public static partial void ClientClosed(ILogger logger, long clientId, string reason);
}
