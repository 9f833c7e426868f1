namespace Kevents.Hybrid;

/// <summary>
/// Operations that the deterministic test mode treats as "would block" (EAGAIN) without asking the kernel, so tests
/// can drive the offload path, cancellation and shutdown without slow disks or sleeps. Set through
/// <see cref="ThreadletRuntime.SimulateBlocking"/>.
/// </summary>
[Flags]
internal enum SimulatedBlocking
{
    /// <summary>Ask the kernel as usual.</summary>
    None = 0,
    /// <summary>Opens miss the dentry cache.</summary>
    Open = 1 << 0,
    /// <summary>Reads miss the page cache.</summary>
    Read = 1 << 1,
    /// <summary>Writes would block.</summary>
    Write = 1 << 2,
    /// <summary>Stats miss the cache.</summary>
    Stat = 1 << 3,
    /// <summary>Closes would block.</summary>
    Close = 1 << 4,
    /// <summary>Every threadlet starts on a cache-miss thread instead of inline, as a "cold" kind does.</summary>
    Start = 1 << 5,
    /// <summary>Every primitive would block.</summary>
    All = Open | Read | Write | Stat | Close,
}
