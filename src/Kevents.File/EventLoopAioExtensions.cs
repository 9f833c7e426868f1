using Kevents.File.Internal;
using Kevents.Hybrid.Internal;
using Kevents.Native;

namespace Kevents.File;

/// <summary>
/// The kevent form of file AIO: submit an operation with a <c>userData</c> token, and receive its completion as one
/// kevent with <c>Filter = </c><see cref="KeventFilter.Aio"/>, <c>Ident</c> = the id the submit returned,
/// <c>UserData</c> = the token, and <c>Data</c> = the result (bytes, a descriptor, 0) or -errno with
/// <see cref="KeventFlags.Error"/>.
/// </summary>
/// <remarks>
/// <para>Every submit method is loop-thread only (or before the loop runs) and never fails after accepting an
/// operation: argument errors throw before anything is submitted; anything later (a missing file, EACCES, a
/// cancellation, a full queue waiting for room) is reported by the completion. So for any one operation an exception
/// from the submit call and a completion kevent never both happen, and an accepted operation always completes once.</para>
/// <para>The kevent goes to the <c>handler</c> when one is given, else to the loop's Aio filter handler
/// (<see cref="EventLoop.SetFilterHandler"/>), else to <see cref="EventLoop.Poll"/>. It arrives in a later batch, never
/// during the submit call.</para>
/// <para>Descriptors passed to these methods are the caller's and must stay open until the operation completes;
/// buffers must stay untouched until then (they are pinned meanwhile).</para>
/// </remarks>
public static class EventLoopAioExtensions
{
    /// <summary>
    /// Sets up the loop's file engine with <paramref name="options"/> and reports which engine it got. Call it before
    /// the first file operation on the loop (later calls return the engine already chosen). Loop thread, or before the
    /// loop runs.
    /// </summary>
    /// <exception cref="NotSupportedException"><see cref="AsyncFileEngine.IoUring"/> was requested and io_uring cannot be used.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    public static AsyncFileEngine UseAsyncFiles(this EventLoop loop, AsyncFileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loop);
        loop.VerifyAccess(nameof(UseAsyncFiles));
        return LoopFiles.Of(loop).Engine(options).Kind;
    }

    /// <summary>
    /// Opens <paramref name="path"/>. The completion's Data is the new descriptor (CLOEXEC, NONBLOCK), which the
    /// caller then owns and closes (for example with <see cref="SubmitClose"/>), or -errno. A cancelled open reports
    /// -ECANCELED, and a descriptor the kernel produced anyway is closed.
    /// </summary>
    public static ulong SubmitOpen(this EventLoop loop, string path, FileOpenFlags flags, ulong userData = 0, KeventHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        KeventOperation op = Prepare(loop, userData, handler, out AioEngine engine);
        int rc = NativeFile.EncodePath(path, out byte[]? encoded);
        if (rc < 0)
        {
            throw new ArgumentException($"The path '{path}' cannot be opened: {Errno.Describe(-rc)}.", nameof(path));
        }
        op.SetOpen(path, encoded!, flags, NativeFile.ToNativeOpenFlags(flags), LoopFiles.Of(loop).Options.CreateMode);
        return Start(loop, engine, op, handler);
    }

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes of <paramref name="fd"/> at <paramref name="offset"/> (-1: at the file position). Data: bytes read (0 at end of file) or -errno.</summary>
    public static ulong SubmitRead(this EventLoop loop, int fd, Memory<byte> buffer, long offset, ulong userData = 0, KeventHandler? handler = null)
    {
        CheckFd(fd);
        FileOffset.Check(offset);
        KeventOperation op = Prepare(loop, userData, handler, out AioEngine engine);
        op.SetRead(null, fd, buffer, offset, null);
        return Start(loop, engine, op, handler);
    }

    /// <summary>Writes <paramref name="buffer"/> to <paramref name="fd"/> at <paramref name="offset"/> (-1: at the file position). Data: bytes written (possibly fewer) or -errno.</summary>
    public static ulong SubmitWrite(this EventLoop loop, int fd, ReadOnlyMemory<byte> buffer, long offset, ulong userData = 0, KeventHandler? handler = null)
    {
        CheckFd(fd);
        FileOffset.Check(offset);
        KeventOperation op = Prepare(loop, userData, handler, out AioEngine engine);
        op.SetWrite(null, fd, buffer, offset, null);
        return Start(loop, engine, op, handler);
    }

    /// <summary>fsync (or fdatasync) of <paramref name="fd"/>. Data: 0 or -errno.</summary>
    public static ulong SubmitFsync(this EventLoop loop, int fd, bool dataOnly = false, ulong userData = 0, KeventHandler? handler = null)
    {
        CheckFd(fd);
        KeventOperation op = Prepare(loop, userData, handler, out AioEngine engine);
        op.SetFsync(null, fd, dataOnly, null);
        return Start(loop, engine, op, handler);
    }

    /// <summary>
    /// Closes <paramref name="fd"/>, which the caller hands over here. Data: 0 or -errno; even when cancelled, the
    /// result says what happened (-ECANCELED only if the close never ran, leaving the descriptor the caller's).
    /// </summary>
    public static ulong SubmitClose(this EventLoop loop, int fd, ulong userData = 0, KeventHandler? handler = null)
    {
        CheckFd(fd);
        KeventOperation op = Prepare(loop, userData, handler, out AioEngine engine);
        op.SetClose(fd, null);
        return Start(loop, engine, op, handler);
    }

    /// <summary>
    /// Cancels the file submission <paramref name="id"/> (any of <see cref="SubmitOpen"/>, <see cref="SubmitRead"/>,
    /// <see cref="SubmitWrite"/>, <see cref="SubmitFsync"/>, <see cref="SubmitClose"/>; IORING_OP_ASYNC_CANCEL on
    /// io_uring). Its completion still arrives, exactly once, with -ECANCELED; except a close the kernel already
    /// performed (a close cannot be cancelled once submitted), which reports its real result: 0 means the descriptor
    /// is closed, -ECANCELED that it is still the caller's. False when no such file submission is pending (it
    /// completed, or never existed). Loop thread only.
    /// </summary>
    /// <remarks>A threadlet submission (<c>SubmitThreadlet</c>) is cancelled through the CancellationToken given to
    /// it; its id comes from the same per-loop allocator (<see cref="EventLoop.AllocateIdent"/>), so passing it here
    /// cancels nothing and returns false.</remarks>
    public static bool CancelSubmission(this EventLoop loop, ulong id)
    {
        ArgumentNullException.ThrowIfNull(loop);
        loop.VerifyAccess(nameof(CancelSubmission));
        PendingKevents pending = PendingKevents.Of(loop);
        if (!pending.TryGet(id, out AioEngine? engine, out KeventOperation? op))
        {
            return false;
        }
        engine!.Cancel(op!);
        return true;
    }

    private static KeventOperation Prepare(EventLoop loop, ulong userData, KeventHandler? handler, out AioEngine engine)
    {
        ArgumentNullException.ThrowIfNull(loop);
        loop.VerifyAccess("SubmitAio");
        engine = LoopFiles.Of(loop).Engine(null);
        return new KeventOperation(loop, userData, PendingKevents.Of(loop));
    }

    private static ulong Start(EventLoop loop, AioEngine engine, KeventOperation op, KeventHandler? handler)
    {
        ulong id = PendingKevents.Of(loop).Add(engine, op);
        if (handler is not null)
        {
            // A one-shot registration under the operation's identity routes its completion to this handler.
            loop.Register(new Kevent(id, KeventFilter.Aio, KeventFlags.Oneshot, 0, 0, op.UserData), handler);
        }
        engine.Start(op);
        return id;
    }

    private static void CheckFd(int fd) =>
        ArgumentOutOfRangeException.ThrowIfNegative(fd, nameof(fd));
}
