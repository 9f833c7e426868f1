namespace Kevents.Native;

/// <summary>
/// io_uring operation codes (the kernel's <c>enum io_uring_op</c>, include/uapi/linux/io_uring.h). The values are
/// the kernel ABI and never change once released; Tmds.LibC 0.5.0 names only the first ones, so Kevents declares
/// the set it uses here, once. Ask <see cref="IoUringRing.Supports"/> before relying on any of them.
/// </summary>
internal static class IoUringOpcode
{
    /// <summary>Does nothing and completes with 0 (Linux 5.1).</summary>
    public const byte Nop = 0;
    /// <summary>Vectored read, like preadv2 (5.1).</summary>
    public const byte ReadV = 1;
    /// <summary>Vectored write, like pwritev2 (5.1).</summary>
    public const byte WriteV = 2;
    /// <summary>fsync or fdatasync (5.1).</summary>
    public const byte Fsync = 3;
    /// <summary>One-shot poll for readiness bits (5.1).</summary>
    public const byte PollAdd = 6;
    /// <summary>Removes a pending poll (5.1).</summary>
    public const byte PollRemove = 7;
    /// <summary>A timeout, or a wait for a number of completions (5.4).</summary>
    public const byte Timeout = 11;
    /// <summary>accept4 (5.5).</summary>
    public const byte Accept = 13;
    /// <summary>Cancels a pending request identified by its user data (5.5).</summary>
    public const byte AsyncCancel = 14;
    /// <summary>openat (5.6).</summary>
    public const byte OpenAt = 18;
    /// <summary>close (5.6).</summary>
    public const byte Close = 19;
    /// <summary>statx (5.6).</summary>
    public const byte Statx = 21;
    /// <summary>Non-vectored read, like pread (5.6).</summary>
    public const byte Read = 22;
    /// <summary>Non-vectored write, like pwrite (5.6).</summary>
    public const byte Write = 23;
    /// <summary>posix_fadvise (5.6).</summary>
    public const byte Fadvise = 24;
    /// <summary>send (5.6).</summary>
    public const byte Send = 26;
    /// <summary>recv (5.6).</summary>
    public const byte Recv = 27;
    /// <summary>openat2 with a struct open_how (5.6).</summary>
    public const byte OpenAt2 = 28;
    /// <summary>splice (5.7).</summary>
    public const byte Splice = 30;
    /// <summary>tee (5.8): the first opcode Tmds.LibC 0.5.0 does not name.</summary>
    public const byte Tee = 33;
    /// <summary>shutdown on a socket (5.11).</summary>
    public const byte Shutdown = 34;
    /// <summary>renameat2 (5.11).</summary>
    public const byte RenameAt = 35;
    /// <summary>unlinkat (5.11).</summary>
    public const byte UnlinkAt = 36;
    /// <summary>mkdirat (5.15).</summary>
    public const byte MkdirAt = 37;
    /// <summary>socket (5.19): the release that also brought multishot accept, so its presence marks that one.</summary>
    public const byte Socket = 45;
}
