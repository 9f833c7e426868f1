using Tmds.Linux;

namespace Kevents.Native;

// Opening a path that must stay inside a directory: the kernel, not string checks, enforces the boundary.
internal static unsafe partial class NativeFile
{
    private const ulong ResolveNoMagicLinks = 0x02; // RESOLVE_NO_MAGICLINKS: no /proc/self/fd style jumps
    private const ulong ResolveBeneath = 0x08;      // RESOLVE_BENEATH: no "..", absolute path or symlink leaves dirFd

    /// <summary>
    /// Opens <paramref name="relativePath"/> relative to the directory <paramref name="directoryFd"/> with
    /// <c>openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)</c>: a path (or a symbolic link met on the way) that
    /// would leave the directory fails with -EXDEV, a magic link with -ELOOP. With <paramref name="cachedOnly"/>
    /// the lookup must be answered from the dentry cache, else -EAGAIN. Returns 0 or -errno; -ENOSYS on kernels
    /// without openat2 (before Linux 5.6), where no equivalent guarantee exists.
    /// </summary>
    public static int OpenBeneath(int directoryFd, string relativePath, FileOpenFlags flags, bool cachedOnly, out FileDescriptor? file)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        file = null;
        if ((flags & (FileOpenFlags.Create | FileOpenFlags.Truncate)) != 0)
        {
            // A server resolving untrusted names has no business creating files through this door.
            return -Errno.EINVAL;
        }
        int length = EncodedLength(relativePath);
        if (length < 0)
        {
            return length;
        }
        byte* name = stackalloc byte[length + 1];
        Encode(relativePath, name, length);
        var how = new open_how
        {
            flags = (ulong)(uint)(ToNative(flags) | LibC.O_CLOEXEC | LibC.O_NONBLOCK),
            resolve = ResolveBeneath | ResolveNoMagicLinks | (cachedOnly ? ResolveCached : 0),
        };
        long rc = Sys.Retry(cachedOnly ? FaultSite.FileOpenCached : FaultSite.FileOpen, directoryFd, 0, new Openat2Call(directoryFd, name, &how));
        if (rc >= 0)
        {
            file = new FileDescriptor((int)rc);
            return 0;
        }
        if (cachedOnly && rc == -Errno.EINVAL && !HasResolveCached())
        {
            // Linux 5.6 to 5.11 has openat2 but not RESOLVE_CACHED: only the blocking form can answer.
            return -Errno.EAGAIN;
        }
        return (int)rc;
    }

    /// <summary>
    /// Copies up to <paramref name="count"/> bytes of <paramref name="inFd"/> from <paramref name="offset"/> to the
    /// socket (or file) <paramref name="outFd"/> inside the kernel, advancing <paramref name="offset"/> by what was
    /// sent. Returns the bytes sent (0 at end of file), or -errno; -EAGAIN when a non-blocking socket is full.
    /// EINTR is retried. The file's pages are read in the caller's thread: on a page-cache miss this waits for the disk.
    /// </summary>
    public static long SendFile(int outFd, int inFd, ref long offset, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        // Safety: offset is a ref to a caller's local or field; fixed pins it for the call, and the kernel writes one long.
        fixed (long* position = &offset)
        {
            return Sys.Retry(new SendfileCall(outFd, inFd, position, count));
        }
    }
}
