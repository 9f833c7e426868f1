using System.Buffers;
using Tmds.Linux;

namespace Kevents.Native;

// Submission side. Prepare* fills one entry in the shared SQE array and advances a private tail; Submit publishes
// that tail to the kernel (release) and calls io_uring_enter once for everything prepared. Entries are mapped
// one-to-one to array slots, so the index array always holds slot i at position i.
//
// Buffers, paths and statx buffers passed to Prepare* are read or written by the kernel until the operation's
// completion is reaped (a read may run on a kernel worker long after Submit returns), so the caller keeps them
// pinned and alive until then. Pointers are accepted for callers that own native memory; MemoryHandle overloads
// serve callers that pinned managed memory with Memory<byte>.Pin() and keep the handle until the completion.
//
// Safety: the ring only stores these addresses in an entry; it never dereferences them. Their validity until the
// completion is the caller's documented duty: an unmapped address comes back as -EFAULT, but memory released and
// reused before the completion would be written by the kernel, which is why every method demands pinning until then.
internal sealed unsafe partial class IoUringRing
{
    /// <summary>Size in bytes of the buffer <see cref="PrepareStatx(int, byte*, int, uint, void*, ulong)"/> fills (struct statx).</summary>
    public const int StatxBufferSize = 256;

    /// <summary>Entries prepared but not yet consumed by the kernel (waiting for <see cref="Submit"/>).</summary>
    public int PendingSubmissions => _disposed ? 0 : (int)(_sqTailLocal - Volatile.Read(ref *_sqHead));

    /// <summary>Prepares an operation that does nothing and completes with 0. False when the submission queue is full.</summary>
    public bool PrepareNop(ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.Nop, -1, userData);
        return sqe != null;
    }

    /// <summary>
    /// Prepares openat(<paramref name="dirFd"/>, <paramref name="path"/>, <paramref name="flags"/> | O_CLOEXEC,
    /// <paramref name="mode"/>). The completion's result is the new descriptor, which the caller then owns, or -errno.
    /// False when the submission queue is full.
    /// </summary>
    /// <param name="dirFd">Directory the path is relative to, or AT_FDCWD (-100).</param>
    /// <param name="path">NUL-terminated UTF-8 path. The caller keeps it pinned and unchanged until the completion is reaped.</param>
    /// <param name="flags">open(2) flags. O_CLOEXEC is always added: no Kevents descriptor leaks into a child process.</param>
    /// <param name="mode">Permission bits for a file O_CREAT makes.</param>
    /// <param name="userData">Returned untouched in the completion.</param>
    public bool PrepareOpenAt(int dirFd, byte* path, int flags, uint mode, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.OpenAt, dirFd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->addr = (ulong)path;
        sqe->len = mode;
        sqe->open_flags = (uint)(flags | LibC.O_CLOEXEC);
        return true;
    }

    /// <summary>As <see cref="PrepareOpenAt(int, byte*, int, uint, ulong)"/>, with the path in pinned managed memory.</summary>
    /// <remarks>The caller keeps <paramref name="path"/> undisposed until the completion is reaped.</remarks>
    public bool PrepareOpenAt(int dirFd, MemoryHandle path, int flags, uint mode, ulong userData) =>
        PrepareOpenAt(dirFd, (byte*)path.Pointer, flags, mode, userData);

    /// <summary>
    /// Prepares a read of up to <paramref name="length"/> bytes at <paramref name="offset"/> (like pread). The result is
    /// the byte count (possibly short; 0 at end of file) or -errno. False when the submission queue is full.
    /// </summary>
    /// <param name="fd">Descriptor to read. For an O_NONBLOCK descriptor the kernel answers -EAGAIN instead of waiting.</param>
    /// <param name="buffer">Destination. The caller keeps it pinned and alive until the completion is reaped.</param>
    /// <param name="length">Bytes to read at most.</param>
    /// <param name="offset">File offset; -1 means the current file position (needs <see cref="IoUringFeatures.ReadWriteCurrentPosition"/>).</param>
    /// <param name="userData">Returned untouched in the completion.</param>
    public bool PrepareRead(int fd, byte* buffer, uint length, long offset, ulong userData) =>
        PrepareReadWrite(IoUringOpcode.Read, fd, buffer, length, offset, userData);

    /// <summary>As <see cref="PrepareRead(int, byte*, uint, long, ulong)"/>, into pinned managed memory.</summary>
    /// <remarks>The caller keeps <paramref name="buffer"/> undisposed until the completion is reaped.</remarks>
    public bool PrepareRead(int fd, MemoryHandle buffer, uint length, long offset, ulong userData) =>
        PrepareReadWrite(IoUringOpcode.Read, fd, (byte*)buffer.Pointer, length, offset, userData);

    /// <summary>
    /// Prepares a write of <paramref name="length"/> bytes at <paramref name="offset"/> (like pwrite). The result is the
    /// byte count (possibly short) or -errno. False when the submission queue is full.
    /// </summary>
    /// <param name="fd">Descriptor to write.</param>
    /// <param name="buffer">Source. The caller keeps it pinned and unchanged until the completion is reaped.</param>
    /// <param name="length">Bytes to write.</param>
    /// <param name="offset">File offset; -1 means the current file position.</param>
    /// <param name="userData">Returned untouched in the completion.</param>
    public bool PrepareWrite(int fd, byte* buffer, uint length, long offset, ulong userData) =>
        PrepareReadWrite(IoUringOpcode.Write, fd, buffer, length, offset, userData);

    /// <summary>As <see cref="PrepareWrite(int, byte*, uint, long, ulong)"/>, from pinned managed memory.</summary>
    /// <remarks>The caller keeps <paramref name="buffer"/> undisposed until the completion is reaped.</remarks>
    public bool PrepareWrite(int fd, MemoryHandle buffer, uint length, long offset, ulong userData) =>
        PrepareReadWrite(IoUringOpcode.Write, fd, (byte*)buffer.Pointer, length, offset, userData);

    /// <summary>
    /// Prepares fsync (or fdatasync when <paramref name="dataOnly"/>). Result 0 or -errno. False when the submission
    /// queue is full. Completions are unordered: an fsync prepared beside a write may run before it, so a caller that
    /// needs the write made durable submits the fsync after the write's completion.
    /// </summary>
    public bool PrepareFsync(int fd, bool dataOnly, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.Fsync, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->fsync_flags = dataOnly ? LibC.IORING_FSYNC_DATASYNC : 0;
        return true;
    }

    /// <summary>
    /// Prepares statx(<paramref name="dirFd"/>, <paramref name="path"/>, <paramref name="flags"/>, <paramref name="mask"/>)
    /// into <paramref name="statxBuffer"/>. Result 0 or -errno. False when the submission queue is full.
    /// </summary>
    /// <param name="dirFd">Directory the path is relative to, AT_FDCWD (-100), or the file itself with an empty path and AT_EMPTY_PATH.</param>
    /// <param name="path">NUL-terminated UTF-8 path. The caller keeps it pinned and unchanged until the completion is reaped.</param>
    /// <param name="flags">AT_* flags (AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, AT_STATX_*).</param>
    /// <param name="mask">STATX_* fields wanted (STATX_SIZE = 0x200, STATX_BASIC_STATS = 0x7ff).</param>
    /// <param name="statxBuffer"><see cref="StatxBufferSize"/> bytes laid out as struct statx (stx_size is the
    /// little-endian u64 at byte 40). The caller keeps it pinned and alive until the completion is reaped.</param>
    /// <param name="userData">Returned untouched in the completion.</param>
    public bool PrepareStatx(int dirFd, byte* path, int flags, uint mask, void* statxBuffer, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.Statx, dirFd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->addr = (ulong)path;
        sqe->len = mask;
        sqe->statx_flags = (uint)flags;
        sqe->addr2 = (ulong)statxBuffer;
        return true;
    }

    /// <summary>As <see cref="PrepareStatx(int, byte*, int, uint, void*, ulong)"/>, with path and buffer in pinned managed memory.</summary>
    /// <remarks>The caller keeps both handles undisposed until the completion is reaped; the buffer covers <see cref="StatxBufferSize"/> bytes.</remarks>
    public bool PrepareStatx(int dirFd, MemoryHandle path, int flags, uint mask, MemoryHandle statxBuffer, ulong userData) =>
        PrepareStatx(dirFd, (byte*)path.Pointer, flags, mask, statxBuffer.Pointer, userData);

    /// <summary>
    /// Prepares statx of the open descriptor <paramref name="fd"/> itself (an empty path with AT_EMPTY_PATH), asking for
    /// the basic fields, into <paramref name="statxBuffer"/> (<see cref="StatxBufferSize"/> bytes, pinned until the
    /// completion is reaped; read it with <see cref="NativeFile.ParseStatx"/>). Result 0 or -errno. False when the
    /// submission queue is full.
    /// </summary>
    public bool PrepareStatxOfFile(int fd, MemoryHandle statxBuffer, ulong userData) =>
        PrepareStatx(fd, s_emptyPath, LibC.AT_EMPTY_PATH, LibC.STATX_BASIC_STATS, statxBuffer.Pointer, userData);

    // One NUL byte that lives for the whole process: the empty path of a descriptor statx, safe to hand to the kernel
    // at any time because it is never freed or moved.
    private static readonly byte* s_emptyPath = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1);

    /// <summary>
    /// Prepares close(<paramref name="fd"/>). Result 0 or -errno. False when the submission queue is full. The caller
    /// gives up the descriptor here: it must not be owned by a <see cref="FileDescriptor"/> that will close it again.
    /// </summary>
    public bool PrepareClose(int fd, ulong userData) => NextEntry(IoUringOpcode.Close, fd, userData) != null;

    /// <summary>
    /// Prepares a cancellation of the first pending operation whose user data is <paramref name="targetUserData"/>.
    /// False when the submission queue is full. The cancel request completes with 0 (found and cancelled; the target
    /// then completes with -ECANCELED), -ENOENT (nothing pending with that user data) or -EALREADY (already running;
    /// the target completes on its own). Either way the target still produces exactly one completion.
    /// </summary>
    public bool PrepareCancel(ulong targetUserData, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.AsyncCancel, -1, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->addr = targetUserData;
        return true;
    }

    /// <summary>
    /// Prepares a one-shot poll of <paramref name="fd"/> for <paramref name="events"/>. The result is the ready
    /// <see cref="EpollFlags"/> bits, or -errno. False when the submission queue is full.
    /// </summary>
    public bool PreparePollAdd(int fd, EpollFlags events, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(IoUringOpcode.PollAdd, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        // poll32_events shares the word of rw_flags; little-endian, so the low 16 bits are also the old poll_events.
        sqe->rw_flags = (int)(uint)events;
        return true;
    }

    /// <summary>
    /// Sends every prepared entry to the kernel with one io_uring_enter. Returns the number the kernel consumed, or
    /// -errno; EINTR is retried. -EBUSY and -EAGAIN are ordinary: the kernel wants completions reaped (or memory) before
    /// it takes more, so reap and submit again; entries not consumed stay queued for the next Submit.
    /// </summary>
    /// <remarks>
    /// An operation that fails after it was consumed reports its error in its completion, never here: for any one
    /// operation, an error from Submit and a completion never both happen, and a consumed operation always completes.
    /// </remarks>
    public int Submit()
    {
        if (_disposed)
        {
            return -Errno.EBADF;
        }
        // Release: the entries written by Prepare* become visible to the kernel no later than the new tail.
        Volatile.Write(ref *_sqTail, _sqTailLocal);
        uint toSubmit = _sqTailLocal - Volatile.Read(ref *_sqHead);
        if (toSubmit == 0)
        {
            return 0;
        }
        // With completions held back by the kernel, GETEVENTS (min_complete 0, so it never waits) lets the same call
        // move them into the completion queue.
        uint flags = HasOverflow ? LibC.IORING_ENTER_GETEVENTS : 0;
        return (int)Sys.Retry(FaultSite.IoUringSubmit, _ring.Fd, 0, new EnterCall(_ring.Fd, toSubmit, flags));
    }

    /// <summary>io_uring_enter(2) that submits <paramref name="toSubmit"/> entries and never waits for completions.</summary>
    private readonly struct EnterCall(int ringFd, uint toSubmit, uint flags) : ISyscall
    {
        public long Invoke(int length) => LibC.io_uring_enter(ringFd, toSubmit, 0, flags, null);
    }

    private bool PrepareReadWrite(byte opcode, int fd, byte* buffer, uint length, long offset, ulong userData)
    {
        io_uring_sqe* sqe = NextEntry(opcode, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->addr = (ulong)buffer;
        sqe->len = length;
        sqe->off = (ulong)offset;
        return true;
    }

    /// <summary>Claims the next free entry, cleared and stamped with opcode, fd and user data; null when the queue is full.</summary>
    private io_uring_sqe* NextEntry(byte opcode, int fd, ulong userData)
    {
        if (_disposed)
        {
            return null;
        }
        // Acquire: once the kernel's head shows an entry consumed, its slot may be rewritten.
        if (_sqTailLocal - Volatile.Read(ref *_sqHead) >= _sqEntries)
        {
            return null;
        }
        uint index = _sqTailLocal & _sqMask;
        // Safety: index is masked to the entry count, so the slot lies inside the mapped SQE array, and the check above
        // proves the kernel has consumed whatever the slot held before.
        io_uring_sqe* sqe = &_sqes[index];
        *sqe = default;
        sqe->opcode = opcode;
        sqe->fd = fd;
        sqe->user_data = userData;
        _sqArray[index] = index;
        _sqTailLocal++;
        return sqe;
    }
}
