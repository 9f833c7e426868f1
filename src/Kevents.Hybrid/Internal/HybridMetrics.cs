using System.Diagnostics.Metrics;

namespace Kevents.Hybrid.Internal;

/// <summary>
/// The threadlet runtime's counters and instruments. The instruments live on <see cref="KeventsMeter.Meter"/>, created
/// once per process; their callbacks report every live loop whose runtime is attached (<see cref="HybridLoop"/> is the
/// loop's feature), tagged <c>kevents.loop</c>. Counters are plain or interlocked fields; only the queued-time
/// histogram records on the (already slow) offload path, and only while a listener enables it.
/// </summary>
internal sealed class HybridMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?> s_short = new("kevents.work_class", "short");
    private static readonly KeyValuePair<string, object?> s_long = new("kevents.work_class", "long");
    private static readonly Histogram<double> s_queueTime;

    private KeyValuePair<string, object?> _loopTag;
    private volatile bool _published;

    public long Inline;        // loop thread only
    public long Offloaded;     // loop thread only
    public long Rejected;      // loop thread only
    public long Cancelled;     // any thread: Interlocked
    public long LoopBlocked;   // loop thread only

    static HybridMetrics()
    {
        Meter meter = KeventsMeter.Meter;
        meter.CreateObservableCounter("kevents.threadlets.inline", () => Each(static m => m.Inline),
            unit: "{threadlet}", description: "Threadlets that completed on the loop thread without a thread hop.");
        meter.CreateObservableCounter("kevents.threadlets.offloaded", () => Each(static m => m.Offloaded),
            unit: "{threadlet}", description: "Threadlets that continued on (or started on) a cache-miss thread.");
        meter.CreateObservableCounter("kevents.threadlets.rejected", () => Each(static m => m.Rejected),
            unit: "{operation}", description: "Blocking operations refused because their queue was full or no thread could start.");
        meter.CreateObservableCounter("kevents.threadlets.cancelled", () => Each(static m => Interlocked.Read(ref m.Cancelled)),
            unit: "{operation}", description: "Queued blocking operations cancelled before a thread took them.");
        meter.CreateObservableUpDownCounter("kevents.threadlets.threads", () => PerClass(static (r, c) => r.ThreadsAlive(c)),
            unit: "{thread}", description: "Cache-miss threads alive, by work class (tag kevents.work_class).");
        meter.CreateObservableUpDownCounter("kevents.threadlets.queue.depth", () => PerClass(static (r, c) => r.QueueDepth(c)),
            unit: "{operation}", description: "Blocking operations waiting for a cache-miss thread, by work class (tag kevents.work_class).");
        s_queueTime = meter.CreateHistogram<double>("kevents.threadlets.queue.time", unit: "s",
            description: "Time blocking operations waited for a cache-miss thread, by work class (tag kevents.work_class).");
        meter.CreateObservableCounter("kevents.loop.blocked", () => Each(static m => m.LoopBlocked),
            unit: "{event}", description: "Blocked-loop warnings: handlers, posted items and inline threadlet segments that held the loop beyond the watchdog threshold.");
    }

    /// <summary>Starts reporting this runtime (the one attached to its loop); runtimes that lost the race never do.</summary>
    public void Publish(ThreadletRuntime runtime, string loopName)
    {
        _loopTag = new KeyValuePair<string, object?>(KeventsMeter.LoopTagName, loopName);
        _published = true;
    }

    public void RecordQueueTime(WorkClass workClass, TimeSpan waited)
    {
        if (s_queueTime.Enabled && _published)
        {
            s_queueTime.Record(waited.TotalSeconds, _loopTag, workClass == WorkClass.Short ? s_short : s_long);
        }
    }

    private static IEnumerable<Measurement<long>> Each(Func<HybridMetrics, long> read) =>
        KeventsMeter.Observe<HybridLoop, long>((h, tag) => h.Runtime.Metrics._published
            ? [new Measurement<long>(read(h.Runtime.Metrics), tag)]
            : []);

    private static IEnumerable<Measurement<int>> PerClass(Func<ThreadletRuntime, WorkClass, int> read) =>
        KeventsMeter.Observe<HybridLoop, int>((h, tag) => h.Runtime.Metrics._published
            ? [new Measurement<int>(read(h.Runtime, WorkClass.Short), tag, s_short), new Measurement<int>(read(h.Runtime, WorkClass.Long), tag, s_long)]
            : []);

    /// <summary>The runtime shut down: it stops being reported even while its loop lives on.</summary>
    public void Dispose() => _published = false;
}
