namespace Kevents.Net.Internal;

/// <summary>
/// Time arithmetic that cannot overflow. A TimeSpan's ticks times 100 overflows a long above about 292 years, and
/// a deadline "now + delay" overflows long before that with TimeSpan.MaxValue; an overflowed deadline is negative and
/// fires at once, turning "never" into "now". Every duration in Kevents.Net goes through here instead.
/// </summary>
internal static class Durations
{
    /// <summary>The nanosecond value meaning "never": no deadline, or one past any clock reading.</summary>
    public const long Never = long.MaxValue;

    /// <summary>
    /// <paramref name="duration"/> in nanoseconds, saturating at <see cref="Never"/>; <see cref="Timeout.InfiniteTimeSpan"/>
    /// is <see cref="Never"/> and any other negative duration is 0 (validation rejects those where they mean nothing).
    /// </summary>
    public static long ToNanoseconds(TimeSpan duration)
    {
        if (duration == Timeout.InfiniteTimeSpan)
        {
            return Never;
        }
        long ticks = duration.Ticks;
        if (ticks <= 0)
        {
            return 0;
        }
        return ticks > long.MaxValue / TimeSpan.NanosecondsPerTick ? Never : ticks * TimeSpan.NanosecondsPerTick;
    }

    /// <summary>The deadline <paramref name="delayNs"/> after <paramref name="startNs"/> (both non-negative), saturating at <see cref="Never"/>.</summary>
    public static long After(long startNs, long delayNs) => delayNs >= Never - startNs ? Never : startNs + delayNs;
}
