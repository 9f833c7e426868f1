namespace Kevents.Tests;

/// <summary>
/// Whether this kernel gives an <see cref="EventLoop"/> the io_uring backend, asked once per process by creating one
/// loop. The io_uring suites run on <see cref="Backend"/>: io_uring where the kernel allows it, epoll (the loop's own
/// fallback) where it refuses, so the suite still runs; <see cref="IoUringFactAttribute"/> skips the tests that are
/// about io_uring itself, with the kernel's reason.
/// </summary>
public static class IoUringBackend
{
    private static readonly Lazy<string?> s_refusal = new(Probe);

    /// <summary>Null when loops get io_uring; else the loop's own words for why not.</summary>
    public static string? Refusal => s_refusal.Value;

    /// <summary>The backend the io_uring suites ask for: io_uring when available, else epoll (so no fallback warning).</summary>
    public static LoopBackend Backend => Refusal is null ? LoopBackend.IoUring : LoopBackend.Epoll;

    private static string? Probe()
    {
        using var logs = new CapturingLoggerProvider();
        using var factory = logs.CreateFactory();
        using var loop = new EventLoop(new EventLoopOptions { Backend = LoopBackend.IoUring, LoggerFactory = factory });
        if (loop.Backend == LoopBackend.IoUring)
        {
            return null;
        }
        return logs.Entries.FirstOrDefault()?.Message ?? "the loop fell back to epoll";
    }
}

/// <summary>A fact about the io_uring backend itself, skipped with the kernel's reason where loops cannot get it.</summary>
public sealed class IoUringFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when io_uring is refused.</summary>
    public IoUringFactAttribute()
    {
        if (IoUringBackend.Refusal is { } why)
        {
            Skip = "This kernel does not give event loops io_uring: " + why;
        }
    }
}
