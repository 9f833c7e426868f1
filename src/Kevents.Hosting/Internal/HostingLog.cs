using Microsoft.Extensions.Logging;

namespace Kevents.Hosting.Internal;

/// <summary>Kevents.Hosting's log messages, event ids 500-599.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(EventId = 500, EventName = "HostListening", Level = LogLevel.Information,
        Message = "Kevents listener {Name} serving on {EndPoint} with {Loops} loops ({Distribution})")]
    public static partial void Listening(ILogger logger, string name, string endPoint, int loops, string distribution);

    [LoggerMessage(EventId = 501, EventName = "HostDraining", Level = LogLevel.Information,
        Message = "Kevents stopping: no new connections; draining {Connections} open connections until the host's shutdown timeout")]
    public static partial void Draining(ILogger logger, int connections);

    [LoggerMessage(EventId = 502, EventName = "HostDrainTimedOut", Level = LogLevel.Warning,
        Message = "Kevents stopping: the host's shutdown timeout ended the drain; aborted {Connections} connections still open. Raise HostOptions.ShutdownTimeout to give clients longer")]
    public static partial void DrainTimedOut(ILogger logger, int connections);

    [LoggerMessage(EventId = 503, EventName = "HostStopped", Level = LogLevel.Information,
        Message = "Kevents stopped: {Accepted} connections served, {Open} open at exit")]
    public static partial void Stopped(ILogger logger, long accepted, int open);
}
