using System.Diagnostics.Metrics;

namespace Kevents.Internal;

/// <summary>
/// The loop's instruments on <see cref="KeventsMeter.Meter"/>, created once per process when the first loop is built.
/// Each observable callback reports every live loop (<see cref="KeventsMeter.LiveLoops"/>), tagged <c>kevents.loop</c>.
/// </summary>
internal static class LoopInstruments
{
    // The kevents.filter tag of each filter: its enum name in lower case ("read", "threadlet").
    private static readonly KeyValuePair<string, object?>[] s_filterTags =
        Enumerable.Range(0, KeventFilters.Count).Select(f => new KeyValuePair<string, object?>("kevents.filter", ((KeventFilter)f).ToString().ToLowerInvariant())).ToArray();

    /// <summary>
    /// Readiness to dispatch, in seconds: recorded on the loop thread, only while a listener enables it, once per turn
    /// that dispatched anything (the turn's last kevent, which waited longest).
    /// </summary>
    public static readonly Histogram<double> Lag;

    static LoopInstruments()
    {
        Meter meter = KeventsMeter.Meter;
        Lag = meter.CreateHistogram<double>("kevents.loop.lag", unit: "s",
            description: "Time from readiness (epoll_wait returned, completions harvested) to the handler's dispatch; one sample per turn: the turn's last kevent.");
        meter.CreateObservableCounter("kevents.loop.iterations", () => Each(static (l, m) => m.Iterations),
            unit: "{iteration}", description: "Turns of the loop.");
        meter.CreateObservableCounter("kevents.loop.busy_time", () => Each(static (l, m) => Volatile.Read(ref m.BusyNanoseconds) / 1e9),
            unit: "s", description: "Time the loop spent outside epoll_wait.");
        meter.CreateObservableGauge("kevents.loop.busy_ratio", () => Each(static (l, m) => m.BusyRatio(l.ReadClockAnyThread())),
            unit: "1", description: "Share of wall time the loop spent outside epoll_wait over the last one to two seconds (0 idle, 1 saturated).");
        meter.CreateObservableCounter("kevents.loop.kevents", Dispatched,
            unit: "{kevent}", description: "Kevents dispatched to handlers, by filter (tag kevents.filter).");
        meter.CreateObservableUpDownCounter("kevents.loop.posted.depth", () => Each(static (l, m) => (long)l.PostedDepth),
            unit: "{item}", description: "Posted work items and continuations waiting to run (sampled, approximate while producers race).");
        meter.CreateObservableCounter("kevents.loop.posted", () => Each(static (l, m) => m.PostedRun),
            unit: "{item}", description: "Posted work items and continuations run.");
        meter.CreateObservableCounter("kevents.loop.timers.armed", () => Each(static (l, m) => m.TimersArmed),
            unit: "{timer}", description: "Timers armed.");
        meter.CreateObservableCounter("kevents.loop.timers.fired", () => Each(static (l, m) => m.TimersFired),
            unit: "{timer}", description: "Timer expirations delivered.");
        meter.CreateObservableUpDownCounter("kevents.loop.timers.active", () => Each(static (l, m) => (long)l.ActiveTimers),
            unit: "{timer}", description: "Timers armed and not yet fired or stopped.");
        meter.CreateObservableCounter("kevents.loop.ring.overflows", () => Each(static (l, m) => l.RingOverflows),
            unit: "{item}", description: "Cross-thread items that found the ring full and took the overflow list (never dropped).");
        meter.CreateObservableCounter("kevents.loop.handler.errors", () => Each(static (l, m) => m.HandlerErrors),
            unit: "{error}", description: "Handlers and posted work items that threw.");
    }

    /// <summary>Runs the static constructor (once); the loop's constructor calls it.</summary>
    public static void EnsureCreated()
    {
    }

    private static IEnumerable<Measurement<T>> Each<T>(Func<EventLoop, LoopMetrics, T> read) where T : struct
    {
        foreach (EventLoop loop in KeventsMeter.LiveLoops())
        {
            yield return new Measurement<T>(read(loop, loop.Metrics), loop.MetricsTag);
        }
    }

    private static IEnumerable<Measurement<long>> Dispatched()
    {
        foreach (EventLoop loop in KeventsMeter.LiveLoops())
        {
            long[] counts = loop.Metrics.Dispatched;
            // Filter 0 is no filter; every other is reported, zero included, so a dashboard sees the full set.
            for (int i = 1; i < counts.Length; i++)
            {
                yield return new Measurement<long>(Volatile.Read(ref counts[i]), loop.MetricsTag, s_filterTags[i]);
            }
        }
    }
}
