namespace Kevents.Native;

/// <summary>CLOCK_MONOTONIC: never jumps with wall-clock changes; the loop's notion of now.</summary>
internal static unsafe class MonotonicClock
{
    private const int ClockMonotonic = 1;

    /// <summary>Nanoseconds since an arbitrary fixed point (boot).</summary>
    public static long Nanoseconds()
    {
        Interop.Timespec ts;
        // clock_gettime(CLOCK_MONOTONIC) cannot fail with a valid pointer; it is served by the vDSO.
        Interop.clock_gettime(ClockMonotonic, &ts);
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }
}
