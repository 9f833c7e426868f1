namespace Kevents.Internal;

/// <summary>
/// A loop's counters. The loop thread bumps plain fields (no atomics, no instrument calls on the hot path); the
/// static observable instruments in <see cref="LoopInstruments"/> read them when a listener collects. A long read is
/// tear-free on the 64-bit platforms Kevents runs on, so a reader sees a recent value, never a torn one.
/// </summary>
internal sealed class LoopMetrics
{
    /// <summary>The busy-ratio window: the ratio covers the last one to two seconds.</summary>
    private const long WindowNs = 1_000_000_000;

    public long Iterations;
    public readonly long[] Dispatched = new long[KeventFilters.Count];
    public long BusyNanoseconds;
    public long TimersArmed;
    public long TimersFired;
    public long PostedRun;
    public long HandlerErrors;

    // The busy-ratio windows: the loop thread rolls them once a second at the top of a turn.
    private long _windowStartNs;
    private long _windowStartBusyNs;
    private long _previousStartNs;
    private long _previousStartBusyNs;

    public LoopMetrics(long nowNs)
    {
        _windowStartNs = _previousStartNs = nowNs;
    }

    /// <summary>Loop thread, once per turn: one comparison unless a second has passed.</summary>
    public void RollWindow(long nowNs)
    {
        if (nowNs - _windowStartNs >= WindowNs)
        {
            _previousStartNs = _windowStartNs;
            _previousStartBusyNs = _windowStartBusyNs;
            _windowStartNs = nowNs;
            _windowStartBusyNs = BusyNanoseconds;
        }
    }

    /// <summary>
    /// Busy time over wall time since the start of the previous window (one to two seconds ago, or longer while the
    /// loop sleeps in epoll_wait, which is idle time). Any thread; a reader racing a roll may pair the fields of two
    /// windows, which the clamp keeps within [0, 1].
    /// </summary>
    public double BusyRatio(long nowNs)
    {
        long start = Volatile.Read(ref _previousStartNs);
        long busy = Volatile.Read(ref BusyNanoseconds) - Volatile.Read(ref _previousStartBusyNs);
        long wall = nowNs - start;
        return wall <= 0 ? 0 : Math.Clamp((double)busy / wall, 0, 1);
    }
}
