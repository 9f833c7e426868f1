using System.Diagnostics.Metrics;

namespace Kevents.Hybrid.Internal;

/// <summary>
/// The threadlet runtime's instruments, under meter "Kevents" with tag <c>kevents.loop</c>. Counters are plain or
/// interlocked fields read by observable instruments; only the queued-time histogram records on the (already slow)
/// offload path.
/// </summary>
internal sealed class HybridMetrics : IDisposable
{
    private static readonly string[] s_classNames = ["short", "long"];

    private Meter? _meter;
    private Histogram<double>? _queueTime;
    private KeyValuePair<string, object?> _loopTag;

    public long Inline;        // loop thread only
    public long Offloaded;     // loop thread only
    public long Rejected;      // loop thread only
    public long Cancelled;     // any thread: Interlocked
    public long LoopBlocked;   // loop thread only

    /// <summary>Creates the instruments; only the runtime a loop actually uses publishes any.</summary>
    public void Publish(ThreadletRuntime runtime, string loopName)
    {
        _meter = new Meter("Kevents");
        _loopTag = new KeyValuePair<string, object?>("kevents.loop", loopName);
        KeyValuePair<string, object?> tag = _loopTag;
        _meter.CreateObservableCounter("kevents.threadlet.inline", () => new Measurement<long>(Volatile.Read(ref Inline), tag),
            unit: "{threadlet}", description: "Threadlets that completed on the loop thread without a thread hop.");
        _meter.CreateObservableCounter("kevents.threadlet.offloaded", () => new Measurement<long>(Volatile.Read(ref Offloaded), tag),
            unit: "{threadlet}", description: "Threadlets that continued on a cache-miss thread.");
        _meter.CreateObservableCounter("kevents.threadlet.rejected", () => new Measurement<long>(Volatile.Read(ref Rejected), tag),
            unit: "{operation}", description: "Blocking operations refused because their queue was full.");
        _meter.CreateObservableCounter("kevents.threadlet.cancelled", () => new Measurement<long>(Volatile.Read(ref Cancelled), tag),
            unit: "{operation}", description: "Queued blocking operations cancelled before a thread took them.");
        _meter.CreateObservableUpDownCounter("kevents.threadlet.threads", () => PerClass(runtime.ThreadsAlive),
            unit: "{thread}", description: "Cache-miss threads alive, by work class.");
        _meter.CreateObservableUpDownCounter("kevents.threadlet.queue_depth", () => PerClass(runtime.QueueDepth),
            unit: "{operation}", description: "Blocking operations waiting for a cache-miss thread, by work class.");
        _queueTime = _meter.CreateHistogram<double>("kevents.threadlet.queue_time", unit: "s",
            description: "Time blocking operations waited for a cache-miss thread.");
        _meter.CreateObservableCounter("kevents.watchdog.blocked", () => new Measurement<long>(Volatile.Read(ref LoopBlocked), tag),
            unit: "{event}", description: "Handlers, posted items and inline threadlet segments that held the loop beyond the watchdog threshold.");
    }

    public void RecordQueueTime(WorkClass workClass, TimeSpan waited) =>
        _queueTime?.Record(waited.TotalSeconds, _loopTag, new KeyValuePair<string, object?>("kevents.work_class", s_classNames[(int)workClass]));

    private IEnumerable<Measurement<int>> PerClass(Func<WorkClass, int> read)
    {
        yield return new Measurement<int>(read(WorkClass.Short), _loopTag, new KeyValuePair<string, object?>("kevents.work_class", "short"));
        yield return new Measurement<int>(read(WorkClass.Long), _loopTag, new KeyValuePair<string, object?>("kevents.work_class", "long"));
    }

    public void Dispose() => _meter?.Dispose();
}
