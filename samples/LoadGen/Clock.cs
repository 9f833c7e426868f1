using Kevents.Native;

namespace LoadGen;

/// <summary>LoadGen's time: CLOCK_MONOTONIC in nanoseconds, the same clock the loop's timers run on.</summary>
internal static class Clock
{
    public static long NowNs() => MonotonicClock.Nanoseconds();
}
