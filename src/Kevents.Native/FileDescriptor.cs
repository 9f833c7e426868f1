using System.Runtime.InteropServices;
using Kevents.Native;
using Tmds.Linux;

namespace Kevents;

/// <summary>
/// An owned file descriptor. Disposing it closes the descriptor exactly once, even when several threads race
/// to release it; the runtime's SafeHandle reference counting keeps it open while a native call uses it.
/// </summary>
/// <remarks>
/// Kevents creates every descriptor with CLOEXEC and NONBLOCK, so a child process inherits none. The file methods
/// (<see cref="Open"/>, <see cref="OpenBeneath"/>, <see cref="Stat"/>, <see cref="Read"/>) return <c>-errno</c> for
/// the failures a server meets every day (-ENOENT, -EACCES, -EAGAIN for "not in the cache"), so a caller maps them
/// to answers without exceptions; they throw only for a null argument. Each holds a reference on the handle for the
/// call, so a descriptor disposed by another thread is never used by number (-EBADF instead).
/// </remarks>
public sealed class FileDescriptor : SafeHandle
{
    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public FileDescriptor(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    private FileDescriptor() : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    /// <summary>The descriptor number, or -1 once closed.</summary>
    public int Fd => IsClosed ? -1 : (int)handle;

    /// <inheritdoc />
    public override bool IsInvalid => (int)handle < 0;

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        // close() is not retried on EINTR: on Linux the descriptor is released even when close reports EINTR,
        // and a retry could close a descriptor another thread has just been given.
        return LibC.close((int)handle) == 0;
    }

    /// <summary>Wraps a raw C result: a descriptor when it is not negative, otherwise <c>-errno</c> and null.</summary>
    internal static int FromResult(int rc, out FileDescriptor? fd)
    {
        if (rc < 0)
        {
            fd = null;
            return -Errno.Last();
        }
        fd = new FileDescriptor(rc);
        return 0;
    }

    /// <summary>
    /// The most descriptors this process may hold open (the soft RLIMIT_NOFILE; 1024 when it cannot be read). Every
    /// socket, file, epoll and eventfd counts, so a server sizes its connection limits from it.
    /// </summary>
    public static long ProcessLimit => ProcessLimits.OpenFilesLimit();

    /// <summary>
    /// Opens <paramref name="path"/> (relative to the working directory unless absolute), close-on-exec and non-blocking.
    /// </summary>
    /// <param name="path">The file or, with <see cref="FileOpenFlags.Directory"/>, directory to open.</param>
    /// <param name="flags">How to open it.</param>
    /// <param name="file">The open descriptor, or null on failure.</param>
    /// <param name="cachedOnly">
    /// Answer only from the kernel's caches: a lookup that would read the disk fails with -EAGAIN at once (as do
    /// <see cref="FileOpenFlags.Create"/> and <see cref="FileOpenFlags.Truncate"/>, which may write), so an event
    /// loop can try the fast path first and move only the misses to a thread.
    /// </param>
    /// <param name="createMode">Permissions of a file that <see cref="FileOpenFlags.Create"/> creates.</param>
    /// <returns>0, or -errno: -ENOENT, -EACCES, -ENOTDIR, -EMFILE, -EAGAIN (with <paramref name="cachedOnly"/>) and so on.</returns>
    public static int Open(string path, FileOpenFlags flags, out FileDescriptor? file, bool cachedOnly = false,
        UnixFileMode createMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead)
    {
        ArgumentNullException.ThrowIfNull(path);
        return NativeFile.Open(path, flags, createMode, cachedOnly, out file);
    }

    /// <summary>
    /// Opens <paramref name="relativePath"/> inside this directory, and only inside it: the kernel refuses a path, or
    /// a symbolic link met on the way, that would leave the directory (-EXDEV), and a /proc magic link (-ELOOP). This
    /// is the safe way to open a name that came from a client under a served root, with no string checks to get wrong.
    /// </summary>
    /// <param name="relativePath">The path below this directory; "." names the directory itself.</param>
    /// <param name="flags">How to open it; <see cref="FileOpenFlags.Create"/> and <see cref="FileOpenFlags.Truncate"/> are refused (-EINVAL).</param>
    /// <param name="cachedOnly">Answer only from the kernel's caches, else -EAGAIN at once (see <see cref="Open"/>).</param>
    /// <param name="file">The open descriptor, or null on failure.</param>
    /// <returns>
    /// 0, or -errno: -ENOENT, -EXDEV, -ELOOP, -EAGAIN (with <paramref name="cachedOnly"/>), -EBADF once this
    /// descriptor is disposed, -ENOSYS on kernels without openat2 (before Linux 5.6), where no such guarantee exists.
    /// </returns>
    public int OpenBeneath(string relativePath, FileOpenFlags flags, bool cachedOnly, out FileDescriptor? file)
    {
        ArgumentNullException.ThrowIfNull(relativePath);
        file = null;
        if (!TryAddRef())
        {
            return -Errno.EBADF;
        }
        try
        {
            return NativeFile.OpenBeneath((int)handle, relativePath, flags, cachedOnly, out file);
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// The status of the open file: length, type, permissions, modification time. The inode of an open file is in
    /// memory, so this never waits for a disk and is safe on an event loop thread.
    /// </summary>
    /// <returns>0, or -errno (-EBADF once disposed).</returns>
    public int Stat(out FileStatus status)
    {
        status = default;
        if (!TryAddRef())
        {
            return -Errno.EBADF;
        }
        try
        {
            return NativeFile.Stat((int)handle, out status);
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>Reads from <paramref name="offset"/> into <paramref name="buffer"/>, leaving the file position alone.</summary>
    /// <param name="buffer">Where the bytes go; a read may return fewer than its length.</param>
    /// <param name="offset">The byte offset in the file to read from.</param>
    /// <param name="noWait">
    /// Answer only from the page cache: a read that would wait for the disk returns -EAGAIN at once (RWF_NOWAIT), so
    /// an event loop can serve cached bytes itself and hand only the misses to a thread.
    /// </param>
    /// <returns>Bytes read, 0 at end of file, or -errno (-EAGAIN with <paramref name="noWait"/>, -EBADF once disposed, -EINVAL for a negative offset).</returns>
    public long Read(Span<byte> buffer, long offset, bool noWait = false)
    {
        if (offset < 0)
        {
            // -1 means "at the file position" to the native call; that is not this method's contract.
            return -Errno.EINVAL;
        }
        if (!TryAddRef())
        {
            return -Errno.EBADF;
        }
        try
        {
            return NativeFile.Read((int)handle, buffer, offset, noWait);
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>
    /// 1 when every page of the range is in the page cache, 0 when some is not, or -errno (-EBADF once disposed).
    /// Never waits for a disk: a loop asks this before it sends the range with sendfile.
    /// </summary>
    internal int CachedPages(long offset, long length)
    {
        if (!TryAddRef())
        {
            return -Errno.EBADF;
        }
        try
        {
            return NativeFile.CachedPages((int)handle, offset, length);
        }
        finally
        {
            DangerousRelease();
        }
    }

    /// <summary>Takes a reference for a native call; false once the handle is closed (or closing).</summary>
    private bool TryAddRef()
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        return added;
    }

    /// <summary>
    /// Wraps the raw C result of a call that fills two descriptors (pipe2, socketpair): both when it succeeded,
    /// otherwise <c>-errno</c> and nulls.
    /// </summary>
    internal static unsafe int FromPair(int rc, int* fds, out FileDescriptor? first, out FileDescriptor? second)
    {
        if (rc < 0)
        {
            first = second = null;
            return -Errno.Last();
        }
        first = new FileDescriptor(fds[0]);
        second = new FileDescriptor(fds[1]);
        return 0;
    }

    /// <inheritdoc />
    public override string ToString() => $"fd {Fd}";
}
