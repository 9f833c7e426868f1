using Microsoft.Extensions.Logging;

namespace Kevents;

/// <summary>Settings of an <see cref="EventLoop"/>. Every limit has a safe default.</summary>
public sealed class EventLoopOptions
{
    /// <summary>
    /// Where the loop (and Kevents.Net, Hybrid and File on it) logs. Default null: warnings and errors, such as a
    /// handler that threw, are written to standard error, one line each, and nothing below Warning is formatted.
    /// Pass your application's factory to route them elsewhere, or <c>NullLoggerFactory.Instance</c> for silence.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// A name for logs, metrics (tag <c>kevents.loop</c>) and the thread <see cref="EventLoop.RunAsync"/> starts.
    /// Default null: the loop is named "kevents-loop-N", N counting the process's unnamed loops from 0
    /// (<see cref="EventLoop.Name"/> has the name it got). Give each loop a distinct name, so its metrics are told apart.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// Most posted work items run per loop turn (phase 3), so a flood of posts cannot starve the poller.
    /// Items beyond it run on the next turn. Default 1024.
    /// </summary>
    public int MaxPostedPerIteration { get; set; } = 1024;

    /// <summary>
    /// Ready descriptors collected per epoll_wait call. Default 64: on the 2-core reference machine, with 1,000 busy
    /// echo connections, batches of 64 served 1.0-1.3x the messages per second of batches of 1,024 (bench/README.md),
    /// because replies start flowing back to peers sooner; the syscall is still amortised over many events.
    /// </summary>
    public int MaxEventsPerWait { get; set; } = 64;

    /// <summary>
    /// Capacity of each cross-thread ring (posted work, completions); a full ring spills into an overflow list
    /// and is counted in the <c>kevents.loop.ring.overflows</c> metric, never dropped. Default 4096.
    /// </summary>
    public int RingCapacity { get; set; } = 4096;

    /// <summary>
    /// Before sleeping in epoll_wait, poll without blocking for up to this long, but only while the loop is lightly
    /// loaded (its last wait brought at most one descriptor). Spinning trades CPU for latency there: a wake-up from a
    /// blocking wait costs tens of microseconds. Under load there is always work soon, and on a small machine a
    /// spinning loop would take the CPU its own peers need. Default zero: never spin. On <see cref="LoopBackend.IoUring"/>
    /// the spin watches the ring's completion queue, which is shared memory, so it makes no syscall.
    /// </summary>
    public TimeSpan SpinBeforeSleep { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// The clock behind timers and <see cref="EventLoop.Now"/>. Default: CLOCK_MONOTONIC. A test may pass a fake
    /// provider; the loop then reads it on every turn (it does not wake by itself when fake time moves).
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// The kernel interface the loop waits in. Default <see cref="LoopBackend.Default"/>: the environment variable
    /// <c>KEVENTS_BACKEND</c> (<c>epoll</c> or <c>io_uring</c>) decides, and epoll when it is unset.
    /// <see cref="LoopBackend.IoUring"/> falls back to epoll, with one warning saying why, where the kernel lacks or
    /// forbids io_uring; <see cref="EventLoop.Backend"/> says which backend the loop got. Handlers and Kevents.Net
    /// behave the same on both.
    /// </summary>
    public LoopBackend Backend { get; set; }

    /// <summary>io_uring backend: submission queue entries (tests make it tiny to force flushes). Default 256.</summary>
    internal uint IoUringEntries { get; set; } = 256;

    /// <summary>io_uring backend: completion queue entries (tests make it tiny to force overflow). Default 4096.</summary>
    internal uint IoUringCompletionEntries { get; set; } = 4096;

    /// <summary>
    /// io_uring backend: connections send through the ring (one batch per turn) instead of calling send(2) directly.
    /// Null: the KEVENTS_IO_URING_SENDS environment variable decides (1 on), else off.
    /// </summary>
    internal bool? IoUringSends { get; set; }

    /// <summary>
    /// io_uring backend with ring sends: submit the sends prepared so far each time this many connections asked for a
    /// flush during a turn, instead of all at the turn's end. Null: KEVENTS_IO_URING_SENDS_BATCH, else 0 (turn's end).
    /// </summary>
    internal int? IoUringSendBatch { get; set; }

    /// <summary>
    /// io_uring backend: receive buffers (8 KiB each) the loop starts with and adds at a time when the kernel runs out
    /// (a power of two). Default 512 (4 MiB).
    /// </summary>
    internal int IoUringReceiveBufferChunk { get; set; } = 512;

    /// <summary>
    /// io_uring backend: the most receive buffers the loop grows to (a power of two, at most 32768). Default 4096
    /// (32 MiB): at 1000 busy connections the loop settled at 2048.
    /// </summary>
    internal int IoUringReceiveBufferLimit { get; set; } = 4096;

    internal EventLoopOptions Validate()
    {
        if (!Enum.IsDefined(Backend))
        {
            throw new ArgumentOutOfRangeException(nameof(Backend), Backend, "Choose LoopBackend.Default, Epoll or IoUring.");
        }
        if (MaxPostedPerIteration < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPostedPerIteration), MaxPostedPerIteration, "At least one posted item must run per turn.");
        }
        if (MaxEventsPerWait < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxEventsPerWait), MaxEventsPerWait, "epoll_wait needs room for at least one event.");
        }
        if (RingCapacity < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(RingCapacity), RingCapacity, "A ring holds at least two items.");
        }
        if (SpinBeforeSleep < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(SpinBeforeSleep), SpinBeforeSleep, "A spin time cannot be negative.");
        }
        return this;
    }
}
