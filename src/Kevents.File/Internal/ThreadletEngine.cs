using Kevents.Hybrid;
using Kevents.Hybrid.Internal;
using Kevents.Native;

namespace Kevents.File.Internal;

// The fallback engine, a thin adapter over Kevents.Hybrid: file offload lives in one place, the loop's threadlet
// runtime, and this engine only turns AioOperations into its calls. Each operation first tries the form that cannot
// block, inline on the loop thread (preadv2/pwritev2 with RWF_NOWAIT, openat2 with RESOLVE_CACHED, statx of an open
// descriptor, close). When the kernel says it would block (EAGAIN), the operation runs as a threadlet on a cache-miss
// thread in its blocking form (reads and writes through Hybrid's FileCalls, the same wait for a pipe's readiness the
// threadlet primitives use), and its result comes back to the loop as the threadlet's completion. fsync always goes to
// a thread.
//
// Cancellation: an operation still on the loop completes as cancelled at once; one queued for a thread is taken out
// of the queue by the threadlet runtime; one waiting for a pipe stops within a wait slice; one in its system call
// finishes, and AioOperation turns its result into -ECANCELED, closing a descriptor an open produced.
//
// Shutdown is the threadlet runtime's: it cancels what is queued and waits for what runs, at least this engine's
// ShutdownTimeout. An operation whose system call is still running after that is never completed early: the kernel
// may still write into its pinned buffer or use its descriptor number. Its completion is delivered when the call
// returns, on that thread, and completes it as cancelled, releasing both then (CallbackCompletion in Kevents.Hybrid).
internal sealed class ThreadletEngine(EventLoop loop, AsyncFileOptions options) : AioEngine(loop)
{
    /// <summary>Test hook: runs on the cache-miss thread right before an operation's blocking system call.</summary>
    internal Action<AioOperation>? InSystemCallForTest { get; set; }

    public override AsyncFileEngine Kind => AsyncFileEngine.Threadlet;

    protected override void StartOnLoop(AioOperation op)
    {
        if (op.CancelRequested)
        {
            op.Complete(-Errno.ECANCELED);
            return;
        }
        op.State = AioOperationState.Submitted;
        int rc = op.Kind == AioKind.Fsync || Simulates(op.Kind) ? -Errno.EAGAIN : Run(op, noWait: true, CancellationToken.None);
        if (rc != -Errno.EAGAIN)
        {
            op.Complete(rc);
            return;
        }
        Offload(op);
    }

    protected override void CancelOnLoop(AioOperation op)
    {
        if (op.State == AioOperationState.Done)
        {
            return;
        }
        op.CancelRequested = true;
        op.OffloadCancellation?.Cancel();
    }

    /// <summary>
    /// The loop is being disposed. Posted starts complete as "the loop was disposed"; everything offloaded is the
    /// threadlet runtime's to finish, through its one shutdown (a no-op if the runtime's own feature came first).
    /// </summary>
    public override void Shutdown()
    {
        CompleteUnstarted();
        if (Loop.TryGetFeature(out HybridLoop? hybrid) && hybrid.Runtime.IsAttached)
        {
            hybrid.Runtime.ShutdownForLoopDisposal();
        }
    }

    /// <summary>The threadlet runtime's test switch: operations it marks as "would block" skip the inline attempt.</summary>
    private bool Simulates(AioKind kind)
    {
        SimulatedBlocking simulated = Loop.GetThreadletRuntime().SimulateBlocking;
        return simulated != SimulatedBlocking.None && (simulated & kind switch
        {
            AioKind.Open => SimulatedBlocking.Open,
            AioKind.Read => SimulatedBlocking.Read,
            AioKind.Write => SimulatedBlocking.Write,
            AioKind.Stat => SimulatedBlocking.Stat,
            AioKind.Close => SimulatedBlocking.Close,
            _ => SimulatedBlocking.None,
        }) != 0;
    }

    private void Offload(AioOperation op)
    {
        var cancellation = new CancellationTokenSource();
        op.OffloadCancellation = cancellation;
        try
        {
            Loop.GetThreadletRuntime().StartForLayer(async t => await t.Blocking(token => RunBlocking(op, token)), cancellation.Token,
                options.ShutdownTimeout, (result, error, loopGone) => Finish(op, result, error, loopGone));
        }
        catch (ObjectDisposedException)
        {
            // The runtime shut down with the loop: nothing started, so nothing holds the operation.
            Finish(op, 0, null, loopGone: true);
        }
    }

    private int RunBlocking(AioOperation op, CancellationToken token)
    {
        InSystemCallForTest?.Invoke(op);
        return Run(op, noWait: false, token);
    }

    /// <summary>
    /// The threadlet's outcome, once: on the loop thread, or (<paramref name="loopGone"/>) wherever it is once the loop
    /// is being disposed, where the result has nowhere to go and the operation completes as cancelled.
    /// </summary>
    private static void Finish(AioOperation op, int result, Exception? error, bool loopGone)
    {
        op.OffloadCancellation?.Dispose();
        op.OffloadCancellation = null;
        if (error is not null)
        {
            // EMFILE when no cache-miss thread could start near the descriptor limit, EAGAIN for a full queue.
            result = -FileErrors.ErrnoOf(error);
        }
        op.Complete(loopGone ? -Errno.ECANCELED : result, shuttingDown: loopGone);
    }

    /// <summary>
    /// One attempt: with <paramref name="noWait"/> the form that cannot block, on the loop thread (-EAGAIN when the
    /// kernel would have to wait); without, the blocking form, on a cache-miss thread.
    /// </summary>
    private static int Run(AioOperation op, bool noWait, CancellationToken token)
    {
        switch (op.Kind)
        {
            case AioKind.Open:
            {
                int rc = NativeFile.Open(op.PathText!, op.OpenFlags, op.CreateMode, cachedOnly: noWait, out FileDescriptor? file);
                return rc < 0 ? rc : Adopt(op, file!);
            }
            case AioKind.Read:
            case AioKind.Write:
                return Transfer(op, noWait, token);
            case AioKind.Fsync:
                return noWait ? -Errno.EAGAIN : NativeFile.Sync(op.Fd, op.DataOnly);
            case AioKind.Stat:
                return StatInto(op);
            default:
                return Close(op.Fd);
        }
    }

    /// <summary>
    /// One pread/pwrite. A pipe or FIFO has no offsets and answers ESPIPE; there the transfer happens at the stream's
    /// position instead, which is what io_uring does for such files, so both engines behave alike.
    /// </summary>
    private static int Transfer(AioOperation op, bool noWait, CancellationToken token)
    {
        bool write = op.Kind == AioKind.Write;
        long rc = FileCalls.Transfer(op.Fd, op.Buffer.Span, op.Offset, write, noWait, token);
        if (rc == -Errno.ESPIPE)
        {
            rc = FileCalls.Transfer(op.Fd, op.Buffer.Span, FileOffset.Current, write, noWait, token);
        }
        return (int)rc;
    }

    private static int Adopt(AioOperation op, FileDescriptor file)
    {
        int fd = file.Fd;
        op.AdoptOpenedFile(file);
        return fd;
    }

    private static int StatInto(AioOperation op)
    {
        int rc = NativeFile.Stat(op.Fd, out FileStatus status);
        if (rc == 0)
        {
            op.Status = status;
        }
        return rc;
    }

    private static int Close(int fd)
    {
        // The caller of a kevent-form close handed the number over; a FileDescriptor closes it once, EINTR included.
        new FileDescriptor(fd).Dispose();
        return 0;
    }
}
