using Microsoft.Extensions.Logging;

namespace FileServer;

/// <summary>The file server's log lines, event ids 1000-1099 (clear of the library's 1-399). Client misbehaviour is Debug; only the server's own trouble goes above Information.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1001, EventName = "Listening", Level = LogLevel.Information, Message = "Serving {Root} on http://{EndPoint}/")]
    public static partial void Listening(ILogger logger, string root, string endPoint);

    [LoggerMessage(EventId = 1002, EventName = "ClientError", Level = LogLevel.Debug, Message = "{Status} for {Target}: {Reason}")]
    public static partial void ClientError(ILogger logger, int status, string target, string reason);

    [LoggerMessage(EventId = 1005, EventName = "OpenFailed", Level = LogLevel.Warning, Message = "Cannot open {Path} under the root: errno {Errno}")]
    public static partial void OpenFailed(ILogger logger, string path, int errno);
}
