using Microsoft.Extensions.Logging;

namespace FileServer;

/// <summary>The file server's log lines, event ids 1000-1099 (clear of the library's 1-399). Client misbehaviour is Debug; only the server's own trouble goes above Information.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, EventName = "Listening", Level = LogLevel.Information, Message = "Serving {Root} on http://{EndPoint}/")]
    public static partial void Listening(ILogger logger, string root, string endPoint);

    [LoggerMessage(EventId = 1002, EventName = "ClientError", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: {Status} for {Target}: {Reason}")]
    public static partial void ClientError(ILogger logger, long connectionId, int status, string target, string reason);

    [LoggerMessage(EventId = 1003, EventName = "HeaderTimeout", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: request head not complete within {TimeoutMs} ms")]
    public static partial void HeaderTimeout(ILogger logger, long connectionId, long timeoutMs);

    [LoggerMessage(EventId = 1004, EventName = "SendFailed", Level = LogLevel.Debug, Message = "Connection {ConnectionId}: sending failed (errno {Errno}); {Remaining} bytes of the body not sent")]
    public static partial void SendFailed(ILogger logger, long connectionId, int errno, long remaining);

    [LoggerMessage(EventId = 1005, EventName = "OpenFailed", Level = LogLevel.Warning, Message = "Cannot open {Path} under the root: errno {Errno}")]
    public static partial void OpenFailed(ILogger logger, string path, int errno);

    [LoggerMessage(EventId = 1006, EventName = "FileShrank", Level = LogLevel.Warning, Message = "{Path} ended early while being sent (truncated under us); the connection is cut")]
    public static partial void FileShrank(ILogger logger, string path);

    [LoggerMessage(EventId = 1007, EventName = "ShutdownDeadline", Level = LogLevel.Warning, Message = "Shutdown deadline passed; aborting {Count} connections still sending")]
    public static partial void ShutdownDeadline(ILogger logger, int count);
}
