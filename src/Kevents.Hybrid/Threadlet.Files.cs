using System.Runtime.InteropServices;
using Kevents.Hybrid.Internal;
using Kevents.Native;

namespace Kevents.Hybrid;

// File primitives: the cached attempt on the loop, the blocking call off it (through FileCalls, which AsyncFile's
// threadlet engine shares: one wait for a pipe's readiness, one wait slice).
public sealed partial class Threadlet
{
    private const UnixFileMode DefaultCreateMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>
    /// Opens <paramref name="path"/>. On the loop: <c>openat2(RESOLVE_CACHED)</c>, answered from the dentry cache; a
    /// lookup that would read the disk (and any Create or Truncate) continues on a cache-miss thread.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist; the message and FileName name it.</exception>
    /// <exception cref="UnauthorizedAccessException">Permission denied; the message names the path.</exception>
    /// <exception cref="ThreadletQueueFullException">The open had to leave the loop and the cache-miss queue was full.</exception>
    public ThreadletOperation<ThreadletFile> OpenAsync(string path, FileOpenFlags flags = FileOpenFlags.ReadOnly, UnixFileMode createMode = DefaultCreateMode)
    {
        ArgumentNullException.ThrowIfNull(path);
        ThrowIfCancelled();
        if (!IsOnLoop)
        {
            return new(OpenBlocking(path, flags, createMode));
        }
        if (!Runtime.Simulates(SimulatedBlocking.Open))
        {
            int rc = NativeFile.Open(path, flags, createMode, cachedOnly: true, out FileDescriptor? descriptor);
            if (rc == 0)
            {
                return new(new ThreadletFile(descriptor!, path));
            }
            if (rc != -Errno.EAGAIN)
            {
                throw FileErrors.For(rc, "open", path);
            }
        }
        return new(new OpenOp(this, path, flags, createMode));
    }

    /// <summary>
    /// Reads into <paramref name="buffer"/> at <paramref name="offset"/> (-1: at the file position, for pipes; other
    /// negative offsets throw <see cref="ArgumentOutOfRangeException"/>, as <c>AsyncFile</c> does). On the
    /// loop: <c>preadv2(RWF_NOWAIT)</c>, answered from the page cache; a read that would wait for the disk, or for a
    /// pipe's writer, continues on a cache-miss thread. Returns the bytes read; 0 at end of file.
    /// </summary>
    /// <remarks>The buffer must stay untouched until the read completes.</remarks>
    public ThreadletOperation<int> ReadAsync(ThreadletFile file, Memory<byte> buffer, long offset = -1)
    {
        FileDescriptor descriptor = CheckTransfer(file, offset);
        if (!IsOnLoop)
        {
            return new(ReadBlocking(file, buffer.Span, offset));
        }
        long rc = Runtime.Simulates(SimulatedBlocking.Read) ? -Errno.EAGAIN : NativeFile.Read(descriptor.Fd, buffer.Span, offset, noWait: true);
        return rc == -Errno.EAGAIN ? new(new ReadOp(this, file, buffer, offset)) : new(Transferred(rc, "read", file));
    }

    /// <summary>
    /// Writes <paramref name="buffer"/> at <paramref name="offset"/> (-1: at the file position; other negatives throw). On the loop:
    /// <c>pwritev2(RWF_NOWAIT)</c>; a write that would block continues on a cache-miss thread. Returns the bytes
    /// written, which for a pipe may be fewer than asked.
    /// </summary>
    public ThreadletOperation<int> WriteAsync(ThreadletFile file, ReadOnlyMemory<byte> buffer, long offset = -1)
    {
        FileDescriptor descriptor = CheckTransfer(file, offset);
        if (!IsOnLoop)
        {
            return new(WriteBlocking(file, buffer.Span, offset));
        }
        long rc = Runtime.Simulates(SimulatedBlocking.Write) ? -Errno.EAGAIN : NativeFile.Write(descriptor.Fd, buffer.Span, offset, noWait: true);
        return rc == -Errno.EAGAIN ? new(new WriteOp(this, file, buffer, offset)) : new(Transferred(rc, "write", file));
    }

    /// <summary>The checks every read and write makes first: the offset rule, an open file, a live threadlet.</summary>
    private FileDescriptor CheckTransfer(ThreadletFile file, long offset)
    {
        FileOffset.Check(offset);
        FileDescriptor descriptor = file.CheckOpen();
        ThrowIfCancelled();
        return descriptor;
    }

    /// <summary>The count an inline read or write moved, or its failure as the exception .NET code expects.</summary>
    private static int Transferred(long rc, string what, ThreadletFile file) =>
        rc >= 0 ? (int)rc : throw FileErrors.For((int)rc, what, file.Path);

    /// <summary>
    /// Stats <paramref name="path"/>. On the loop the lookup must hit the dentry cache (an O_PATH
    /// <c>openat2(RESOLVE_CACHED)</c>, then <c>statx(AT_STATX_DONT_SYNC)</c> of that descriptor); otherwise the stat
    /// continues on a cache-miss thread.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public ThreadletOperation<FileStatus> StatAsync(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ThrowIfCancelled();
        if (!IsOnLoop)
        {
            return new(StatBlocking(path));
        }
        if (!Runtime.Simulates(SimulatedBlocking.Stat))
        {
            int rc = NativeFile.Stat(path, cachedOnly: true, out FileStatus status);
            if (rc == 0)
            {
                return new(status);
            }
            if (rc != -Errno.EAGAIN)
            {
                throw FileErrors.For(rc, "stat", path);
            }
        }
        return new(new StatPathOp(this, path));
    }

    /// <summary>Stats an open file: its inode is in memory, so on the loop this answers inline.</summary>
    public ThreadletOperation<FileStatus> StatAsync(ThreadletFile file)
    {
        FileDescriptor descriptor = file.CheckOpen();
        ThrowIfCancelled();
        if (IsOnLoop && Runtime.Simulates(SimulatedBlocking.Stat))
        {
            return new(new StatFileOp(this, file));
        }
        int rc = NativeFile.Stat(descriptor.Fd, out FileStatus status);
        if (rc < 0)
        {
            throw FileErrors.For(rc, "stat", file.Path);
        }
        return new(status);
    }

    /// <summary>
    /// Closes <paramref name="file"/>. Closing a local file does not block, so on the loop it closes inline; only the
    /// test switch (<see cref="SimulatedBlocking.Close"/>) sends it to a thread. Disposing the file does the same.
    /// </summary>
    public ThreadletOperation CloseAsync(ThreadletFile file)
    {
        if (IsOnLoop && Runtime.Simulates(SimulatedBlocking.Close) && file.Handle is { IsClosed: false })
        {
            return new(new ThreadletOperation<int>(new CloseOp(this, file)));
        }
        file.Dispose();
        return new(new ThreadletOperation<int>(0));
    }

    internal ThreadletFile OpenBlocking(string path, FileOpenFlags flags, UnixFileMode mode)
    {
        EnterStep("open", path);
        int rc = NativeFile.Open(path, flags, mode, cachedOnly: false, out FileDescriptor? descriptor);
        LeaveStep();
        if (rc < 0)
        {
            throw FileErrors.For(rc, "open", path);
        }
        return new ThreadletFile(descriptor!, path);
    }

    internal int ReadBlocking(ThreadletFile file, Span<byte> buffer, long offset) =>
        TransferBlocking(file, buffer, offset, write: false, "read");

    // The call only reads a write's buffer; FileCalls takes one span type for both directions.
    internal int WriteBlocking(ThreadletFile file, ReadOnlySpan<byte> buffer, long offset) =>
        TransferBlocking(file, MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(buffer), buffer.Length), offset, write: true, "write");

    private int TransferBlocking(ThreadletFile file, Span<byte> buffer, long offset, bool write, string what)
    {
        FileDescriptor descriptor = file.CheckOpen();
        EnterStep(what, file.Path);
        long rc = FileCalls.Transfer(descriptor.Fd, buffer, offset, write, noWait: false, CancellationToken);
        LeaveStep();
        if (rc == -Errno.ECANCELED)
        {
            // Stopped waiting for a pipe's readiness: say so with the token that asked (the caller's, or shutdown's).
            ThrowIfCancelled();
        }
        return Transferred(rc, what, file);
    }

    internal FileStatus StatBlocking(string path)
    {
        EnterStep("stat", path);
        int rc = NativeFile.Stat(path, cachedOnly: false, out FileStatus status);
        LeaveStep();
        return rc < 0 ? throw FileErrors.For(rc, "stat", path) : status;
    }

    internal FileStatus StatBlocking(ThreadletFile file)
    {
        int rc = NativeFile.Stat(file.CheckOpen().Fd, out FileStatus status);
        return rc < 0 ? throw FileErrors.For(rc, "stat", file.Path) : status;
    }
}
