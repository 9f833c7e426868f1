using Microsoft.Extensions.Logging;

namespace Kevents.Http;

/// <summary>Kevents.Http's log messages, event ids 600-699. Client misbehaviour logs at Debug, never above Information.</summary>
internal static partial class HttpLog
{
    [LoggerMessage(EventId = 600, EventName = "HttpListening", Level = LogLevel.Debug, Message = "HTTP listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 601, EventName = "BadRequest", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: {Status}: {Reason}; closing")]
    public static partial void BadRequest(ILogger logger, long connectionId, int status, string reason);

    [LoggerMessage(EventId = 602, EventName = "HeaderTimeout", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: request head not complete within {TimeoutMs} ms")]
    public static partial void HeaderTimeout(ILogger logger, long connectionId, long timeoutMs);

    [LoggerMessage(EventId = 603, EventName = "SendFailed", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: sending failed (errno {Errno})")]
    public static partial void SendFailed(ILogger logger, long connectionId, int errno);

    [LoggerMessage(EventId = 604, EventName = "HttpHandlerFailed", Level = LogLevel.Error, Message = "Connection {ConnectionId}: the handler of {Method} {Target} threw; answered 500 and closing")]
    public static partial void HandlerFailed(ILogger logger, long connectionId, string method, string target, Exception exception);

    [LoggerMessage(EventId = 605, EventName = "FileEnded", Level = LogLevel.Warning, Message = "Connection {ConnectionId}: a file body ended before its Content-Length (truncated while sent); the connection is cut")]
    public static partial void FileEnded(ILogger logger, long connectionId);

    [LoggerMessage(EventId = 606, EventName = "HttpShutdownDeadline", Level = LogLevel.Warning, Message = "HTTP shutdown deadline passed; aborting {Count} connections")]
    public static partial void ShutdownDeadline(ILogger logger, int count);

    [LoggerMessage(EventId = 607, EventName = "BodyRateTooLow", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: request body arrived at {Rate} B/s over {ElapsedMs} ms, below the minimum of {Minimum} B/s; closing")]
    public static partial void BodyRateTooLow(ILogger logger, long connectionId, long rate, long elapsedMs, long minimum);

    // 650 on: the cold-file path (ids 607-649 are left for the parser and response work).
    [LoggerMessage(EventId = 650, EventName = "ColdFileReadFailed", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: reading a cold file body into the page cache failed (errno {Errno}); sendfile will report it")]
    public static partial void ColdFileReadFailed(ILogger logger, long connectionId, int errno);
}
