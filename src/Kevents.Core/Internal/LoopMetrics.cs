using System.Diagnostics.Metrics;

namespace Kevents.Internal;

/// <summary>
/// A loop's counters. The loop thread bumps plain fields (no atomics, no instrument calls on the hot path); the
/// meter's observable instruments read them when a listener collects.
/// </summary>
internal sealed class LoopMetrics : IDisposable
{
    /// <summary>The meter name every Kevents instrument lives under.</summary>
    public const string MeterName = "Kevents";

    // The kevents.filter tag of each filter: its enum name in lower case ("read", "threadlet").
    private static readonly string[] s_filterNames =
        Enumerable.Range(0, KeventFilters.Count).Select(f => ((KeventFilter)f).ToString().ToLowerInvariant()).ToArray();

    private readonly Meter _meter;

    public long Iterations;
    public readonly long[] Dispatched = new long[KeventFilters.Count];
    public long BusyNanoseconds;
    public long TimersArmed;
    public long TimersFired;
    public long PostedRun;
    public long HandlerErrors;

    public LoopMetrics(EventLoop loop)
    {
        _meter = new Meter(MeterName);
        var tag = new KeyValuePair<string, object?>("kevents.loop", loop.Name);
        _meter.CreateObservableCounter("kevents.loop.iterations", () => new Measurement<long>(Volatile.Read(ref Iterations), tag),
            unit: "{iteration}", description: "Turns of the loop.");
        _meter.CreateObservableCounter("kevents.loop.busy_time", () => new Measurement<double>(Volatile.Read(ref BusyNanoseconds) / 1e9, tag),
            unit: "s", description: "Time the loop spent outside epoll_wait.");
        _meter.CreateObservableCounter("kevents.dispatched", () => DispatchedMeasurements(tag),
            unit: "{kevent}", description: "Kevents delivered, by filter.");
        _meter.CreateObservableCounter("kevents.timers.armed", () => new Measurement<long>(Volatile.Read(ref TimersArmed), tag),
            unit: "{timer}", description: "Timers armed.");
        _meter.CreateObservableCounter("kevents.timers.fired", () => new Measurement<long>(Volatile.Read(ref TimersFired), tag),
            unit: "{timer}", description: "Timer expirations delivered.");
        _meter.CreateObservableCounter("kevents.posted", () => new Measurement<long>(Volatile.Read(ref PostedRun), tag),
            unit: "{item}", description: "Posted work items run.");
        _meter.CreateObservableCounter("kevents.ring.overflows", () => new Measurement<long>(loop.RingOverflows, tag),
            unit: "{item}", description: "Items that found a cross-thread ring full and took the overflow list.");
        _meter.CreateObservableCounter("kevents.handler.errors", () => new Measurement<long>(Volatile.Read(ref HandlerErrors), tag),
            unit: "{error}", description: "Handlers and posted work items that threw.");
    }

    private IEnumerable<Measurement<long>> DispatchedMeasurements(KeyValuePair<string, object?> loopTag)
    {
        for (int i = 1; i < Dispatched.Length; i++)
        {
            yield return new Measurement<long>(Volatile.Read(ref Dispatched[i]), loopTag, new KeyValuePair<string, object?>("kevents.filter", s_filterNames[i]));
        }
    }

    public void Dispose() => _meter.Dispose();
}
