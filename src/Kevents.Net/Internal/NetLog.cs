using Microsoft.Extensions.Logging;

namespace Kevents.Net.Internal;

/// <summary>Kevents.Net's log messages, event ids 100-199 (Core has 1-99, Hybrid 200-299, File 300-399). Client misbehaviour (resets, timeouts) logs at Debug, never above Information.</summary>
internal static partial class NetLog
{
    [LoggerMessage(EventId = 100, EventName = "Listening", Level = LogLevel.Debug, Message = "Listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 101, EventName = "DescriptorsExhausted", Level = LogLevel.Warning,
        Message = "Out of file descriptors ({Error}) while accepting on {EndPoint}; shed {Shed} pending connections and paused accepting for {PauseMs} ms. Raise RLIMIT_NOFILE or lower ServerOptions.MaxConnections")]
    public static partial void DescriptorsExhausted(ILogger logger, string error, string endPoint, int shed, long pauseMs);

    [LoggerMessage(EventId = 102, EventName = "AcceptFailed", Level = LogLevel.Warning, Message = "accept on {EndPoint} failed: {Error}")]
    public static partial void AcceptFailed(ILogger logger, string endPoint, string error);

    [LoggerMessage(EventId = 103, EventName = "ConnectionRejected", Level = LogLevel.Debug,
        Message = "Connection refused on {EndPoint}: {Count} connections is the limit (ServerOptions.MaxConnections)")]
    public static partial void ConnectionRejected(ILogger logger, string endPoint, int count);

    [LoggerMessage(EventId = 104, EventName = "ConnectionReset", Level = LogLevel.Debug, Message = "Connection {Id} reset: {Error}")]
    public static partial void ConnectionReset(ILogger logger, long id, string error);

    [LoggerMessage(EventId = 105, EventName = "IdleTimeout", Level = LogLevel.Debug, Message = "Connection {Id} idle for {IdleMs} ms; aborted")]
    public static partial void IdleTimeout(ILogger logger, long id, long idleMs);

    [LoggerMessage(EventId = 106, EventName = "ApplicationFailed", Level = LogLevel.Error, Message = "Connection {Id}: the application handler threw; the connection is aborted")]
    public static partial void ApplicationFailed(ILogger logger, long id, Exception exception);

    [LoggerMessage(EventId = 107, EventName = "ShutdownDeadline", Level = LogLevel.Information,
        Message = "Shutdown of {EndPoint}: {Count} connections still open at the deadline were aborted")]
    public static partial void ShutdownDeadline(ILogger logger, string endPoint, int count);

    [LoggerMessage(EventId = 108, EventName = "ResponseRateTooLow", Level = LogLevel.Debug,
        Message = "Connection {Id}: the peer took {Rate} B/s of queued output over {WindowMs} ms, below the minimum of {Minimum} B/s (ConnectionOptions.MinResponseDataRate); aborted")]
    public static partial void ResponseRateTooLow(ILogger logger, long id, long rate, long windowMs, long minimum);

    [LoggerMessage(EventId = 109, EventName = "ConnectionFailed", Level = LogLevel.Error,
        Message = "Connection {Id}: Kevents.Net failed while serving it; the connection is aborted and the others go on")]
    public static partial void ConnectionFailed(ILogger logger, long id, Exception exception);

    [LoggerMessage(EventId = 110, EventName = "ApplicationCompletedWithError", Level = LogLevel.Debug,
        Message = "Connection {Id}: the application completed its {Pipe} with an error; the connection is reset")]
    public static partial void ApplicationCompletedWithError(ILogger logger, long id, string pipe, Exception exception);

    [LoggerMessage(EventId = 111, EventName = "ConnectionStartFailed", Level = LogLevel.Warning,
        Message = "Connection {Id} could not be set up on the loop and was closed: {Error}")]
    public static partial void ConnectionStartFailed(ILogger logger, long id, string error, Exception exception);
}
