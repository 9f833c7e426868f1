namespace Kevents.Hybrid;

/// <summary>
/// Settings of a loop's threadlet runtime (<see cref="EventLoopThreadletExtensions.UseThreadlets"/>). Every limit has a
/// safe default. The runtime reads them once, when it is created.
/// </summary>
public sealed class ThreadletOptions
{
    /// <summary>Most threads for <see cref="WorkClass.Short"/> work. Default: 4 per processor, at least 8, at most 64.</summary>
    public int MaxShortThreads { get; set; } = Math.Clamp(Environment.ProcessorCount * 4, 8, 64);

    /// <summary>Most threads for <see cref="WorkClass.Long"/> work. Default 8.</summary>
    public int MaxLongThreads { get; set; } = 8;

    /// <summary>Most operations waiting for a Short thread before <see cref="QueueFullPolicy"/> applies. Default 1024.</summary>
    public int MaxQueuedShort { get; set; } = 1024;

    /// <summary>Most operations waiting for a Long thread before <see cref="QueueFullPolicy"/> applies. Default 256.</summary>
    public int MaxQueuedLong { get; set; } = 256;

    /// <summary>What a full queue does: reject with <see cref="ThreadletQueueFullException"/> (default) or wait.</summary>
    public QueueFullPolicy QueueFullPolicy { get; set; } = QueueFullPolicy.Reject;

    /// <summary>A cache-miss thread idle this long exits; the next burst starts new ones. Default 10 s.</summary>
    public TimeSpan IdleThreadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a cache-miss thread that just finished its work watches the queue before it parks. A threadlet that
    /// hops to a thread and back usually queues its next blocking call within microseconds; a thread that is still
    /// looking takes it without a futex wake-up. At most one thread per work class spins at a time, and the window
    /// shrinks while spins keep finding nothing (it returns to the full length after one that pays). Zero parks at
    /// once. Default 50 us.
    /// </summary>
    public TimeSpan SpinBeforeIdle { get; set; } = TimeSpan.FromMicroseconds(50);

    /// <summary>
    /// How long disposing the loop waits for threadlets still running on cache-miss threads before it reports them
    /// (log warning per threadlet, and <see cref="ThreadletRuntime.LastShutdownReport"/>) and returns. Default 5 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A handler, posted item or inline threadlet segment that holds the loop longer than this is reported by the
    /// blocked-loop watchdog (log warning naming it, metric <c>kevents.loop.blocked</c>). Null turns the watchdog
    /// off, which saves two clock reads per handler. Default 50 ms.
    /// </summary>
    public TimeSpan? WatchdogThreshold { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Adaptive routing: a threadlet kind (its body's method) that blocked this many times in a row when started
    /// inline goes straight to a cache-miss thread (it turns "cold"), and is tried inline again later. Zero turns
    /// adaptive routing off. Default 3.
    /// </summary>
    public int ColdAfterBlocks { get; set; } = 3;

    /// <summary>
    /// How long a cold kind runs on threads before one start is tried inline again; each failed retry doubles it,
    /// and after three failed retries the kind is "never" inline, retried only every <see cref="NeverRetryInterval"/>.
    /// Measured on the loop's TimeProvider. Default 1 s.
    /// </summary>
    public TimeSpan ColdRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often a kind marked "never inline" is tried inline again. Default 60 s.</summary>
    public TimeSpan NeverRetryInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Deterministic test mode (Kevents' own tests): operations treated as "would block" from the start.</summary>
    internal SimulatedBlocking SimulateBlocking { get; set; }

    internal ThreadletOptions Validate()
    {
        Positive(MaxShortThreads, nameof(MaxShortThreads));
        Positive(MaxLongThreads, nameof(MaxLongThreads));
        Positive(MaxQueuedShort, nameof(MaxQueuedShort));
        Positive(MaxQueuedLong, nameof(MaxQueuedLong));
        if (IdleThreadTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleThreadTimeout), IdleThreadTimeout, "Idle threads need a positive timeout.");
        }
        if (SpinBeforeIdle < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(SpinBeforeIdle), SpinBeforeIdle, "A spin time cannot be negative; use zero to park at once.");
        }
        if (ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), ShutdownTimeout, "A shutdown timeout cannot be negative.");
        }
        if (WatchdogThreshold is { } threshold && threshold <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(WatchdogThreshold), threshold, "Use null to turn the watchdog off, or a positive threshold.");
        }
        if (ColdAfterBlocks < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ColdAfterBlocks), ColdAfterBlocks, "Use 0 to turn adaptive routing off.");
        }
        return this;
    }

    private static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1.");
        }
    }
}
