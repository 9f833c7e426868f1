namespace Kevents.File;

/// <summary>Which engine runs a loop's file operations.</summary>
public enum AsyncFileEngine
{
    /// <summary>io_uring when the kernel offers it and nothing disables it, else threadlets. Only ever a request: an open file reports the engine it got.</summary>
    Auto = 0,
    /// <summary>One io_uring per loop; its completion eventfd sits in the loop's poller, so completions arrive as Aio kevents.</summary>
    IoUring = 1,
    /// <summary>Threadlets: the cached syscall inline on the loop (<c>preadv2(RWF_NOWAIT)</c>, ...), else a cache-miss thread.</summary>
    Threadlet = 2,
}
