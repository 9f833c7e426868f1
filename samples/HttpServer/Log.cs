using Microsoft.Extensions.Logging;

namespace HttpServerSample;

internal static partial class Log
{
    [LoggerMessage(EventId = 1401, EventName = "Listening", Level = LogLevel.Information, Message = "HTTP server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 1402, EventName = "Stopping", Level = LogLevel.Information, Message = "{Signal} received; finishing requests in flight")]
    public static partial void Stopping(ILogger logger, string signal);

    [LoggerMessage(EventId = 1403, EventName = "StartFailed", Level = LogLevel.Error, Message = "{Message}")]
    public static partial void StartFailed(ILogger logger, string message);

    [LoggerMessage(EventId = 1404, EventName = "Loops", Level = LogLevel.Information, Message = "{Loops} loops, connections spread by {Distribution}")]
    public static partial void Loops(ILogger logger, int loops, string distribution);
}
