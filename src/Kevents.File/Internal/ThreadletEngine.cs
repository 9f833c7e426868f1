using Kevents.Hybrid.Internal;
using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.File.Internal;

// The fallback engine: each operation first tries the syscall form that cannot block, inline on the loop thread
// (preadv2/pwritev2 with RWF_NOWAIT, openat2 with RESOLVE_CACHED, statx of an open descriptor, close). When the kernel
// says it would block (EAGAIN), the operation goes to a threadlet's cache-miss thread in its blocking form, and its
// result comes back to the loop through the threadlet's completion kevent. fsync always goes to a thread.
//
// Cancellation: an operation still on the loop completes as cancelled at once; one queued for a thread is taken out
// of the queue by the threadlet runtime; one already running finishes, and AioOperation turns its result into
// -ECANCELED, closing a descriptor an open produced.
internal sealed class ThreadletEngine : AioEngine
{
    // A thread blocked on a non-blocking descriptor (a FIFO) waits in slices this long, so it notices cancellation.
    private const int WaitSliceMs = 50;

    // ESPIPE: an offset given for a file that has none (a pipe or FIFO). Errno does not name it.
    private const int Espipe = 29;

    private readonly Dictionary<AioOperation, CancellationTokenSource> _offloaded = new();

    public ThreadletEngine(EventLoop loop) : base(loop)
    {
        loop.AddShutdownHook(Shutdown);
    }

    public override AsyncFileEngine Kind => AsyncFileEngine.Threadlet;

    protected override void StartOnLoop(AioOperation op)
    {
        if (op.CancelRequested)
        {
            op.Complete(-Errno.ECANCELED);
            return;
        }
        op.State = AioOperationState.Submitted;
        int rc = op.Kind == AioKind.Fsync || Simulates(op.Kind) ? -Errno.EAGAIN : RunCached(op);
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
        if (_offloaded.TryGetValue(op, out CancellationTokenSource? cts))
        {
            cts.Cancel();
        }
    }

    /// <summary>The threadlet runtime's test switch: operations it marks as "would block" skip the inline attempt.</summary>
    private bool Simulates(AioKind kind)
    {
        SimulatedBlocking simulated = Loop.Threadlets().SimulateBlocking;
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
        var cts = new CancellationTokenSource();
        _offloaded.Add(op, cts);
        ValueTask<int> task;
        try
        {
            task = Loop.Threadlet(t => RunOffloaded(t, op), cts.Token);
        }
        catch (Exception ex)
        {
            Finish(op, -ErrnoOf(ex));
            return;
        }
        if (task.IsCompleted)
        {
            Finish(op, ResultOf(task));
            return;
        }
        // Awaited from the loop thread, the threadlet's result resumes here on the loop (its completion kevent).
        System.Runtime.CompilerServices.ValueTaskAwaiter<int> awaiter = task.GetAwaiter();
        awaiter.UnsafeOnCompleted(() => Finish(op, ResultOf(task)));
    }

    private static async ValueTask<int> RunOffloaded(Threadlet threadlet, AioOperation op) =>
        await threadlet.Blocking(token => RunBlocking(op, token));

    /// <summary>
    /// The loop is being disposed: results of operations still on cache-miss threads would be posted to a loop that
    /// never runs again, so they complete here, as cancelled; a descriptor an open produces later is closed by its thread.
    /// </summary>
    private void Shutdown()
    {
        CompleteUnstarted();
        foreach ((AioOperation op, CancellationTokenSource cts) in _offloaded.ToArray())
        {
            _offloaded.Remove(op);
            try
            {
                cts.Cancel();
            }
            catch (AggregateException)
            {
                // A threadlet's cancellation callback failed; the operation is completed below regardless.
            }
            cts.Dispose();
            if (op.State != AioOperationState.Done)
            {
                op.Complete(-Errno.ECANCELED, shuttingDown: true);
            }
        }
    }

    private void Finish(AioOperation op, int result)
    {
        if (op.State == AioOperationState.Done)
        {
            // Completed by the shutdown hook; only a descriptor may be left to close.
            op.OpenedFile?.Dispose();
            op.OpenedFile = null;
            return;
        }
        if (_offloaded.Remove(op, out CancellationTokenSource? cts))
        {
            cts.Dispose();
        }
        op.Complete(result);
    }

    private static int ResultOf(ValueTask<int> task)
    {
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            return -ErrnoOf(ex);
        }
    }

    // A loop disposed under the threadlet is a cancellation; the rest as threadlets report it (EMFILE when no
    // cache-miss thread could start near the descriptor limit, EAGAIN for a full queue).
    private static int ErrnoOf(Exception exception) =>
        exception is ObjectDisposedException ? Errno.ECANCELED : FileErrors.ErrnoOf(exception);

    /// <summary>The form that cannot block, on the loop thread. -EAGAIN when the kernel would have to wait.</summary>
    private static int RunCached(AioOperation op)
    {
        switch (op.Kind)
        {
            case AioKind.Open:
            {
                int rc = NativeFile.Open(op.PathText!, op.OpenFlags, op.CreateMode, cachedOnly: true, out FileDescriptor? file);
                return rc < 0 ? rc : Adopt(op, file!);
            }
            case AioKind.Read:
            case AioKind.Write:
                return Transfer(op, noWait: true);
            case AioKind.Stat:
                return StatInto(op);
            case AioKind.Close:
                return Close(op.Fd);
            default:
                return -Errno.EAGAIN;
        }
    }

    /// <summary>The blocking form, on a cache-miss thread.</summary>
    private static int RunBlocking(AioOperation op, CancellationToken token)
    {
        switch (op.Kind)
        {
            case AioKind.Open:
            {
                int rc = NativeFile.Open(op.PathText!, op.OpenFlags, op.CreateMode, cachedOnly: false, out FileDescriptor? file);
                return rc < 0 ? rc : Adopt(op, file!);
            }
            case AioKind.Read:
            case AioKind.Write:
                while (true)
                {
                    int rc = Transfer(op, noWait: false);
                    if (rc != -Errno.EAGAIN)
                    {
                        return rc;
                    }
                    // Every Kevents descriptor is non-blocking: on a pipe or FIFO, "blocking" means waiting for readiness.
                    while (NativeFile.WaitReady(op.Fd, op.Kind == AioKind.Write, WaitSliceMs) == 0)
                    {
                        if (token.IsCancellationRequested)
                        {
                            return -Errno.ECANCELED;
                        }
                    }
                }
            case AioKind.Fsync:
                return NativeFile.Sync(op.Fd, op.DataOnly);
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
    private static int Transfer(AioOperation op, bool noWait)
    {
        long rc = Once(op, op.Offset, noWait);
        if (rc == -Espipe)
        {
            rc = Once(op, -1, noWait);
        }
        return (int)rc;

        static long Once(AioOperation op, long offset, bool noWait) => op.Kind == AioKind.Read
            ? NativeFile.Read(op.Fd, op.Buffer.Span, offset, noWait)
            : NativeFile.Write(op.Fd, op.Buffer.Span, offset, noWait);
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
