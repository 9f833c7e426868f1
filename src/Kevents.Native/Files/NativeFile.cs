using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// File syscalls for threadlets: each comes in a form that only answers from the kernel's caches (it returns
/// -EAGAIN instead of waiting for a disk) and a form that may block. Every call returns a value or -errno and
/// retries EINTR; every descriptor is owned by a <see cref="FileDescriptor"/> and opened CLOEXEC and NONBLOCK.
/// </summary>
/// <remarks>
/// The cached forms: <c>openat2(RESOLVE_CACHED)</c> fails with EAGAIN when the path lookup would touch the disk
/// (Linux 5.12); <c>preadv2/pwritev2(RWF_NOWAIT)</c> fail with EAGAIN when the data is not in the page cache
/// (Linux 4.14, regular files); a path stat is an O_PATH open with RESOLVE_CACHED followed by a statx of the
/// descriptor, whose inode is then in memory. Kernels too old for a flag answer EAGAIN too, so callers fall back
/// to the blocking form on a thread rather than fail.
/// </remarks>
internal static unsafe partial class NativeFile
{
    /// <summary>AT_FDCWD: as a directory descriptor, "relative to the working directory".</summary>
    public const int CurrentDirectory = -100;

    private const ulong ResolveCached = 0x20;     // RESOLVE_CACHED, linux/openat2.h (Tmds.LibC 0.5.0 lacks it)
    private const int RwfNoWait = 0x08;           // RWF_NOWAIT, linux/fs.h
    private const int AtStatxDontSync = 0x4000;   // AT_STATX_DONT_SYNC, linux/fcntl.h
    private const int PosixFadvDontNeed = 4;      // POSIX_FADV_DONTNEED
    private const int MaxPathBytes = 4096;        // PATH_MAX, including the terminating NUL

    /// <summary>
    /// Opens <paramref name="path"/> (relative paths resolve against the working directory). With
    /// <paramref name="cachedOnly"/> the lookup must be answered from the dentry cache, else -EAGAIN;
    /// Create and Truncate always answer -EAGAIN in that mode because they may write. Returns 0 or -errno.
    /// </summary>
    public static int Open(string path, FileOpenFlags flags, UnixFileMode mode, bool cachedOnly, out FileDescriptor? file)
    {
        ArgumentNullException.ThrowIfNull(path);
        file = null;
        if (cachedOnly && (flags & (FileOpenFlags.Create | FileOpenFlags.Truncate)) != 0)
        {
            return -Errno.EAGAIN;
        }
        int native = ToNative(flags) | LibC.O_CLOEXEC | LibC.O_NONBLOCK;
        return OpenCore(path, native, (ulong)mode, cachedOnly, out file);
    }

    /// <summary>Reads at <paramref name="offset"/> (-1: at the file position, for pipes): bytes read, 0 at end of file, or -errno.</summary>
    /// <remarks>With <paramref name="noWait"/> a read that would wait for the disk (or, on a pipe, for a writer) returns -EAGAIN.</remarks>
    public static long Read(int fd, Span<byte> buffer, long offset, bool noWait)
    {
        // Safety: the span is pinned for the call and the iovec's length is the span's length.
        fixed (byte* p = buffer)
        {
            var segment = new iovec { iov_base = p, iov_len = (size_t)buffer.Length };
            return VectorCall(fd, &segment, offset, noWait, write: false);
        }
    }

    /// <summary>Writes at <paramref name="offset"/> (-1: at the file position): bytes written (possibly fewer), or -errno.</summary>
    /// <remarks>With <paramref name="noWait"/> a write that would wait (block allocation, a full pipe) returns -EAGAIN.</remarks>
    public static long Write(int fd, ReadOnlySpan<byte> buffer, long offset, bool noWait)
    {
        // Safety: the span is pinned for the call and the iovec's length is the span's length; the kernel only reads it.
        fixed (byte* p = buffer)
        {
            var segment = new iovec { iov_base = p, iov_len = (size_t)buffer.Length };
            return VectorCall(fd, &segment, offset, noWait, write: true);
        }
    }

    /// <summary>Stats an open descriptor (its inode is in memory, so this does not wait for a disk). Returns 0 or -errno.</summary>
    public static int Stat(int fd, out FileStatus status)
    {
        byte empty = 0;
        return StatCore(fd, &empty, LibC.AT_EMPTY_PATH | AtStatxDontSync, out status);
    }

    /// <summary>
    /// Stats <paramref name="path"/>, following symbolic links. With <paramref name="cachedOnly"/> the lookup must be
    /// answered from the dentry cache (-EAGAIN otherwise) and attributes are not synchronised with a remote server.
    /// Returns 0 or -errno.
    /// </summary>
    public static int Stat(string path, bool cachedOnly, out FileStatus status)
    {
        ArgumentNullException.ThrowIfNull(path);
        status = default;
        if (cachedOnly)
        {
            int rc = OpenCore(path, LibC.O_PATH | LibC.O_CLOEXEC, 0, cachedOnly: true, out FileDescriptor? handle);
            if (rc < 0)
            {
                return rc;
            }
            using (handle)
            {
                return Stat(handle!.Fd, out status);
            }
        }
        int length = EncodedLength(path);
        if (length < 0)
        {
            return length;
        }
        byte* name = stackalloc byte[length + 1];
        Encode(path, name, length);
        return StatCore(LibC.AT_FDCWD, name, 0, out status);
    }

    /// <summary>
    /// Waits until <paramref name="fd"/> is readable (or writable) for at most <paramref name="timeoutMs"/>
    /// milliseconds (-1: forever). Returns 1 when ready (or hung up), 0 on timeout, or -errno. Used by threads that
    /// must block on a non-blocking descriptor such as a FIFO.
    /// </summary>
    public static int WaitReady(int fd, bool write, int timeoutMs)
    {
        var poll = new pollfd { fd = fd, events = (short)(write ? LibC.POLLOUT : LibC.POLLIN) };
        return (int)Sys.Retry(new PollCall(&poll, timeoutMs));
    }

    /// <summary>
    /// Writes the file's dirty pages and asks the kernel to drop its cached pages, so the next RWF_NOWAIT read
    /// answers EAGAIN. For tests and benchmarks of the cache-miss path. Returns 0 or -errno.
    /// </summary>
    public static int DropCache(int fd)
    {
        int rc = Errno.Result(LibC.fdatasync(fd));
        if (rc < 0)
        {
            return rc;
        }
        // posix_fadvise returns the error number itself instead of setting errno.
        return -Interop.posix_fadvise(fd, 0, 0, PosixFadvDontNeed);
    }

    /// <summary>Creates a named pipe at <paramref name="path"/> with <paramref name="mode"/>. Returns 0 or -errno.</summary>
    public static int CreateFifo(string path, UnixFileMode mode)
    {
        ArgumentNullException.ThrowIfNull(path);
        int length = EncodedLength(path);
        if (length < 0)
        {
            return length;
        }
        byte* name = stackalloc byte[length + 1];
        Encode(path, name, length);
        return Errno.Result(LibC.mkfifo(name, (mode_t)(uint)mode));
    }

    /// <summary>
    /// The open(2) flags Kevents uses for <paramref name="flags"/>: the access mode and options, plus O_CLOEXEC and
    /// O_NONBLOCK, which every Kevents descriptor carries. For callers that open through io_uring.
    /// </summary>
    public static int ToNativeOpenFlags(FileOpenFlags flags) => ToNative(flags) | LibC.O_CLOEXEC | LibC.O_NONBLOCK;

    /// <summary>
    /// Encodes <paramref name="path"/> as NUL-terminated UTF-8 for a syscall that reads it later (io_uring). Returns 0
    /// and the bytes, or -errno for a path the kernel would refuse (empty: ENOENT; embedded NUL: EINVAL; too long:
    /// ENAMETOOLONG).
    /// </summary>
    public static int EncodePath(string path, out byte[]? encoded)
    {
        ArgumentNullException.ThrowIfNull(path);
        encoded = null;
        int length = EncodedLength(path);
        if (length < 0)
        {
            return length;
        }
        var bytes = new byte[length + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        encoded = bytes;
        return 0;
    }

    /// <summary>
    /// Reads a struct statx that the kernel wrote (for example through io_uring) into a <see cref="FileStatus"/>.
    /// <paramref name="statx"/> holds at least <see cref="IoUringRing.StatxBufferSize"/> bytes.
    /// </summary>
    public static FileStatus ParseStatx(ReadOnlySpan<byte> statx)
    {
        if (statx.Length < sizeof(statx))
        {
            throw new ArgumentException($"A struct statx needs {sizeof(statx)} bytes; got {statx.Length}.", nameof(statx));
        }
        statx value = MemoryMarshal.Read<statx>(statx);
        return new FileStatus(
            (long)value.stx_size,
            value.stx_mode,
            value.stx_ino,
            value.stx_mtime.tv_sec * 1_000_000_000 + value.stx_mtime.tv_nsec,
            value.stx_nlink);
    }

    /// <summary>fsync (or fdatasync when <paramref name="dataOnly"/>) of <paramref name="fd"/>; may block. Returns 0 or -errno.</summary>
    public static int Sync(int fd, bool dataOnly) => (int)Math.Min(Sys.Retry(new SyncCall(fd, dataOnly)), 0);

    private static int OpenCore(string path, int nativeFlags, ulong mode, bool cachedOnly, out FileDescriptor? file)
    {
        file = null;
        int length = EncodedLength(path);
        if (length < 0)
        {
            return length;
        }
        byte* name = stackalloc byte[length + 1];
        Encode(path, name, length);
        var how = new open_how
        {
            flags = (ulong)(uint)nativeFlags,
            // open_how rejects a mode unless the open may create a file.
            mode = (nativeFlags & LibC.O_CREAT) != 0 ? mode : 0,
            resolve = cachedOnly ? ResolveCached : 0,
        };
        long rc = Sys.Retry(cachedOnly ? FaultSite.FileOpenCached : FaultSite.FileOpen, -1, 0, new Openat2Call(LibC.AT_FDCWD, name, &how));
        if (rc >= 0)
        {
            file = new FileDescriptor((int)rc);
            return 0;
        }
        if (rc == -Errno.ENOSYS || (cachedOnly && rc == -Errno.EINVAL && !HasResolveCached()))
        {
            // No openat2, or no RESOLVE_CACHED: the cached form cannot answer; the blocking form uses openat.
            if (cachedOnly)
            {
                return -Errno.EAGAIN;
            }
            return FileDescriptor.FromResult((int)Sys.Retry(new OpenatCall(name, nativeFlags, (int)mode)), out file);
        }
        return (int)rc;
    }

    private static int s_resolveCached; // 0 unknown, 1 supported, -1 not

    private static bool HasResolveCached()
    {
        int known = Volatile.Read(ref s_resolveCached);
        if (known != 0)
        {
            return known > 0;
        }
        // Probe with a path that is always cached: "/" itself.
        byte* root = stackalloc byte[2];
        root[0] = (byte)'/';
        root[1] = 0;
        var how = new open_how { flags = (ulong)(uint)(LibC.O_PATH | LibC.O_CLOEXEC), resolve = ResolveCached };
        int rc = LibC.openat2(LibC.AT_FDCWD, root, &how, (size_t)sizeof(open_how));
        if (rc >= 0)
        {
            LibC.close(rc);
        }
        Volatile.Write(ref s_resolveCached, rc >= 0 ? 1 : -1);
        return rc >= 0;
    }

    private static long VectorCall(int fd, iovec* segment, long offset, bool noWait, bool write)
    {
        int flags = noWait ? RwfNoWait : 0;
        long position = offset < 0 ? -1 : offset;
        int length = (int)Math.Min(int.MaxValue, (ulong)segment->iov_len);
        var call = new VectorIoCall(fd, segment, position, flags, write);
        // Only reads are faulted (and shortened): the file suites inject cache misses and failures on the read path.
        long rc = write
            ? Sys.Retry(call, length)
            : Sys.Retry(noWait ? FaultSite.FileReadNoWait : FaultSite.FileRead, fd, length, call);
        // A file system or kernel that does not support RWF_NOWAIT cannot answer without blocking.
        return noWait && rc == -Errno.EOPNOTSUPP ? -Errno.EAGAIN : rc;
    }

    private static int StatCore(int dirFd, byte* name, int flags, out FileStatus status)
    {
        statx buffer;
        int rc = (int)Sys.Retry(new StatxCall(dirFd, name, flags, &buffer));
        status = rc < 0 ? default : new FileStatus(
            (long)buffer.stx_size,
            buffer.stx_mode,
            buffer.stx_ino,
            buffer.stx_mtime.tv_sec * 1_000_000_000 + buffer.stx_mtime.tv_nsec,
            buffer.stx_nlink);
        return Math.Min(rc, 0);
    }

    private static int ToNative(FileOpenFlags flags)
    {
        int native = (flags & FileOpenFlags.ReadWrite) != 0 ? LibC.O_RDWR
            : (flags & FileOpenFlags.WriteOnly) != 0 ? LibC.O_WRONLY
            : LibC.O_RDONLY;
        if ((flags & FileOpenFlags.Create) != 0) native |= LibC.O_CREAT;
        if ((flags & FileOpenFlags.Exclusive) != 0) native |= LibC.O_EXCL;
        if ((flags & FileOpenFlags.Truncate) != 0) native |= LibC.O_TRUNC;
        if ((flags & FileOpenFlags.Append) != 0) native |= LibC.O_APPEND;
        if ((flags & FileOpenFlags.Directory) != 0) native |= LibC.O_DIRECTORY;
        if ((flags & FileOpenFlags.NoFollow) != 0) native |= LibC.O_NOFOLLOW;
        return native;
    }

    /// <summary>The UTF-8 length of a path, or -errno for one the kernel would refuse.</summary>
    private static int EncodedLength(string path)
    {
        if (path.Length == 0)
        {
            return -Errno.ENOENT;
        }
        if (path.Contains('\0'))
        {
            return -Errno.EINVAL;
        }
        int length = Encoding.UTF8.GetByteCount(path);
        return length >= MaxPathBytes ? -Errno.ENAMETOOLONG : length;
    }

    private static void Encode(string path, byte* destination, int length)
    {
        Encoding.UTF8.GetBytes(path, new Span<byte>(destination, length));
        destination[length] = 0;
    }

    private readonly struct PollCall(pollfd* poll, int timeoutMs) : ISyscall
    {
        public long Invoke(int length) => LibC.poll(poll, 1, timeoutMs);
    }

    private readonly struct SyncCall(int fd, bool dataOnly) : ISyscall
    {
        public long Invoke(int length) => dataOnly ? LibC.fdatasync(fd) : LibC.fsync(fd);
    }

    private readonly struct Openat2Call(int directoryFd, byte* name, open_how* how) : ISyscall
    {
        public long Invoke(int length) => LibC.openat2(directoryFd, name, how, (size_t)sizeof(open_how));
    }

    private readonly struct OpenatCall(byte* name, int flags, int mode) : ISyscall
    {
        public long Invoke(int length) => LibC.openat(LibC.AT_FDCWD, name, flags, (mode_t)(uint)mode);
    }

    /// <summary>preadv2 or pwritev2 of one segment; <c>length</c> (fewer bytes under fault injection) becomes its length.</summary>
    private readonly struct VectorIoCall(int fd, iovec* segment, long position, int flags, bool write) : ISyscall
    {
        public long Invoke(int length)
        {
            segment->iov_len = (size_t)length;
            return write ? Interop.pwritev2(fd, segment, 1, position, flags) : Interop.preadv2(fd, segment, 1, position, flags);
        }
    }

    private readonly struct StatxCall(int dirFd, byte* name, int flags, statx* buffer) : ISyscall
    {
        public long Invoke(int length) => LibC.statx(dirFd, name, flags, LibC.STATX_BASIC_STATS, buffer);
    }

    private readonly struct SendfileCall(int outFd, int inFd, long* offset, int count) : ISyscall
    {
        public long Invoke(int length) => Interop.sendfile(outFd, inFd, offset, (nuint)count);
    }
}
