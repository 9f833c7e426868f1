using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// The blocked-loop watchdog: the loop times each handler and posted item (EventLoop.WatchHandlers) and the runtime
// times each inline threadlet segment; anything beyond the threshold is logged by name and counted.
public sealed partial class ThreadletRuntime
{
    private void OnLoopBlocked(string what, Kevent? kevent, TimeSpan held) => ReportBlocked(what, kevent, held);

    private void ReportBlocked(string what, Kevent? kevent, TimeSpan held)
    {
        Log.LoopBlocked(Logger, Loop.Name, held.TotalMilliseconds, _options.WatchdogThreshold?.TotalMilliseconds ?? 0, what,
            kevent is { } k ? $" handling {k}" : string.Empty);
        LastBlockedBy = what;
        Volatile.Write(ref _metrics.LoopBlocked, _metrics.LoopBlocked + 1);
    }
}
