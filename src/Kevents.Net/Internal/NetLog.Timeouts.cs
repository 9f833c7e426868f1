using Microsoft.Extensions.Logging;

namespace Kevents.Net.Internal;

// Timeouts other than the original idle one, in their own file and id range (115-119).
internal static partial class NetLog
{
    [LoggerMessage(EventId = 115, EventName = "InputIdleTimeout", Level = LogLevel.Debug,
        Message = "Connection {Id} received nothing for {IdleMs} ms (ConnectionOptions.InputIdleTimeout); aborted")]
    public static partial void InputIdleTimeout(ILogger logger, long id, long idleMs);
}
