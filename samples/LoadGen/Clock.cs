using System.Diagnostics;

namespace LoadGen;

/// <summary>
/// LoadGen's time in nanoseconds. On Linux the Stopwatch reads CLOCK_MONOTONIC at nanosecond frequency, the same
/// clock the loop's timers run on, so the common case is the raw timestamp with no conversion.
/// </summary>
internal static class Clock
{
    private static readonly double s_nsPerTick = 1e9 / Stopwatch.Frequency;

    public static long NowNs()
    {
        long ticks = Stopwatch.GetTimestamp();
        return Stopwatch.Frequency == 1_000_000_000 ? ticks : (long)(ticks * s_nsPerTick);
    }
}
