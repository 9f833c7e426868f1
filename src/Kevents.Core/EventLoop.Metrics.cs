using Kevents.Internal;

namespace Kevents;

// Metrics: the loop's counters (LoopMetrics) and what the meter "Kevents" reads of the loop (LoopInstruments).
public sealed partial class EventLoop
{
    private static long s_nextDefaultName;

    private readonly LoopMetrics _metrics;
    // The readiness time of the batch being dispatched: when epoll_wait returned (phase 5).
    private long _readyNs;

    /// <summary>Turns the loop has completed.</summary>
    public long Iterations => Volatile.Read(ref _metrics.Iterations);

    internal long RingOverflows => _posted.OverflowCount + _completions.OverflowCount;

    internal LoopMetrics Metrics => _metrics;

    /// <summary>The <c>kevents.loop</c> tag of every measurement about this loop.</summary>
    internal KeyValuePair<string, object?> MetricsTag { get; private set; }

    /// <summary>Posted work waiting to run, sampled from any thread (metrics only).</summary>
    internal int PostedDepth => _posted.ApproximateCount + _localPosted.Count;

    /// <summary>Timers armed and pending, sampled from any thread (metrics only).</summary>
    internal int ActiveTimers => _timers.Count;

    /// <summary>The loop's clock read now; safe from any thread (the cached <see cref="NowNanoseconds"/> may be old).</summary>
    internal long ReadClockAnyThread() => ReadClock();

    /// <summary>"kevents-loop-0", "kevents-loop-1", ...: one process-wide sequence for loops given no name.</summary>
    private static string NextDefaultName() => $"kevents-loop-{Interlocked.Increment(ref s_nextDefaultName) - 1}";

    private void JoinMetrics()
    {
        MetricsTag = new KeyValuePair<string, object?>(KeventsMeter.LoopTagName, Name);
        KeventsMeter.Add(this);
    }

    /// <summary>One lag sample for the batch: now minus the batch's readiness. Only while a listener enables it.</summary>
    private void RecordLag() => LoopInstruments.Lag.Record((ReadClock() - _readyNs) / 1e9, MetricsTag);
}
