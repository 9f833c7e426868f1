using Kevents.Native;

namespace Kevents.File;

/// <summary>How a loop runs file operations. The io_uring settings take effect when the loop's ring is created (its first io_uring operation, or <see cref="EventLoopAioExtensions.UseAsyncFiles"/>).</summary>
public sealed class AsyncFileOptions
{
    /// <summary>
    /// The engine to use. <see cref="AsyncFileEngine.Auto"/> (the default) takes io_uring and falls back to threadlets
    /// when ring setup fails (ENOSYS on old kernels, EPERM under seccomp or io_uring_disabled, or
    /// <c>KEVENTS_IO_URING=0</c>) or the kernel lacks an operation. <see cref="AsyncFileEngine.IoUring"/> fails instead of
    /// falling back.
    /// </summary>
    public AsyncFileEngine Engine { get; set; }

    /// <summary>
    /// Submission queue entries of the loop's ring (rounded up to a power of two by the kernel). Operations beyond it
    /// wait in a backlog and are submitted as room appears. Default 256.
    /// </summary>
    public uint RingEntries { get; set; } = 256;

    /// <summary>Ring setup details (the completion queue size), for tests that need a small queue. Null for the defaults.</summary>
    /// <remarks>Internal: the setup type belongs to Kevents.Native's internal io_uring layer, not to applications.</remarks>
    internal IoUringSetupOptions? IoUringSetup { get; set; }

    /// <summary>Permission bits for files that <see cref="FileOpenFlags.Create"/> makes. Default 0644.</summary>
    public UnixFileMode CreateMode { get; set; } =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// How long disposing the loop waits for operations still in flight to finish or be cancelled, so their buffers can
    /// be released and descriptors they opened closed: io_uring operations, and threadlet operations inside their
    /// system call. Disposing never waits longer; an operation still running then keeps its buffer pinned and its
    /// descriptor referenced, and completes (cancelled) when its system call returns. Default 5 s.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal static AsyncFileOptions Default { get; } = new();

    /// <summary>The submission queue size io_uring accepts at most (IORING_MAX_ENTRIES).</summary>
    private const uint MaxRingEntries = 32768;

    /// <summary>Refuses settings no engine can honour, naming the option, before anything is set up with them.</summary>
    internal AsyncFileOptions Validate()
    {
        if (!Enum.IsDefined(Engine))
        {
            throw new ArgumentOutOfRangeException(nameof(Engine), Engine, "Use AsyncFileEngine.Auto, IoUring or Threadlet.");
        }
        if (RingEntries is 0 or > MaxRingEntries)
        {
            throw new ArgumentOutOfRangeException(nameof(RingEntries), RingEntries, $"RingEntries must be from 1 to {MaxRingEntries} (io_uring's limit).");
        }
        if (ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ShutdownTimeout), ShutdownTimeout, "A shutdown timeout cannot be negative; use zero not to wait.");
        }
        return this;
    }
}
