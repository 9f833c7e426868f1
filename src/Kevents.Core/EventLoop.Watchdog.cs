using System.Diagnostics;
using System.Runtime.CompilerServices;
using Kevents.Internal;

namespace Kevents;

/// <summary>Told about one handler or posted item that held the loop thread longer than the watchdog's threshold.</summary>
/// <param name="what">The handler's method (Type.Method), or the posted callback or async method.</param>
/// <param name="kevent">The kevent being handled, or null for posted work.</param>
/// <param name="held">How long it held the loop.</param>
public delegate void LoopBlockedCallback(string what, Kevent? kevent, TimeSpan held);

// The blocked-loop watchdog's hook: while a watch is installed, every handler and posted item is timed. Without a
// watch the dispatcher pays one null check per handler. The threshold test and the report live in Kevents.Hybrid.
public sealed partial class EventLoop
{
    private HandlerWatch? _handlerWatch;

    private sealed class HandlerWatch(long thresholdTicks, long frequency, LoopBlockedCallback onBlocked)
    {
        public readonly long ThresholdTicks = thresholdTicks;
        public readonly long Frequency = frequency;
        public readonly LoopBlockedCallback OnBlocked = onBlocked;
    }

    /// <summary>
    /// Times every handler and posted item from now on and calls <paramref name="onBlocked"/> on the loop thread for
    /// each that ran longer than <paramref name="threshold"/>; null stops watching. Uses the loop's TimeProvider,
    /// so a test can "block" a handler by advancing fake time. Loop thread only (or before the loop runs). One watch per
    /// loop: a second call replaces the first. Kevents.Hybrid's blocked-loop watchdog is built on it.
    /// </summary>
    /// <remarks>Costs two timestamp reads per handler while installed; one null check per handler otherwise.</remarks>
    /// <param name="threshold">How long a handler or posted item may hold the loop before it is reported.</param>
    /// <param name="onBlocked">Called on the loop thread after each one that held it longer; an exception from it is logged.</param>
    /// <exception cref="InvalidOperationException">Called on another thread while the loop runs.</exception>
    public void WatchHandlers(TimeSpan threshold, LoopBlockedCallback? onBlocked)
    {
        VerifyAccess(nameof(WatchHandlers));
        if (onBlocked is null)
        {
            _handlerWatch = null;
            return;
        }
        long frequency = _timeProvider?.TimestampFrequency ?? Stopwatch.Frequency;
        long ticks = (long)Math.Ceiling(threshold.TotalSeconds * frequency);
        _handlerWatch = new HandlerWatch(Math.Max(1, ticks), frequency, onBlocked);
    }

    /// <summary>The timestamp the watchdog measures with (the loop's TimeProvider, else the monotonic clock).</summary>
    internal long WatchTimestamp() => _timeProvider?.GetTimestamp() ?? Stopwatch.GetTimestamp();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InvokeWatched(HandlerWatch watch, KeventHandler handler, in Kevent kevent)
    {
        long start = WatchTimestamp();
        try
        {
            handler(in kevent);
        }
        finally
        {
            long held = WatchTimestamp() - start;
            if (held >= watch.ThresholdTicks)
            {
                ReportBlocked(watch, Describe(handler), kevent, held);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InvokeWatched(HandlerWatch watch, in WorkItem item)
    {
        long start = WatchTimestamp();
        try
        {
            item.Invoke();
        }
        finally
        {
            long held = WatchTimestamp() - start;
            if (held >= watch.ThresholdTicks)
            {
                ReportBlocked(watch, DescribeWork(item), null, held);
            }
        }
    }

    private void ReportBlocked(HandlerWatch watch, string what, Kevent? kevent, long heldTicks)
    {
        var held = TimeSpan.FromSeconds((double)heldTicks / watch.Frequency);
        try
        {
            watch.OnBlocked(what, kevent, held);
        }
        catch (Exception ex)
        {
            // A failing report must not turn a slow handler into a failed one.
            Log.BlockedReportFailed(_logger, Describe(watch.OnBlocked), ex);
        }
    }

    /// <summary>Names posted work; an await continuation is named after the async method it resumes.</summary>
    private static string DescribeWork(in WorkItem item)
    {
        if (item.State is Delegate continuation && continuation.Target is { } box)
        {
            Type boxType = box.GetType();
            if (boxType.IsGenericType)
            {
                foreach (Type argument in boxType.GetGenericArguments())
                {
                    if (typeof(IAsyncStateMachine).IsAssignableFrom(argument))
                    {
                        return $"{argument.FullName} (async continuation)";
                    }
                }
            }
        }
        return item.Describe();
    }
}
