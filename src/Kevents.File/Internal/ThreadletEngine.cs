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
//
// Shutdown. The loop is disposed and will not deliver threadlet results again, so the engine's shutdown completes every
// offloaded operation itself, but never one whose system call may still be running: until that call returns, the
// kernel may write into the pinned buffer or use the descriptor number, which releasing the reference could let the
// process reuse. Each offloaded operation has a phase, moved by CAS: Waiting -> InCall -> CallDone on its worker;
// the hook claims Waiting ones (Waiting -> Claimed: the worker then skips the call), waits up to ShutdownTimeout for
// InCall ones to reach CallDone, and hands the rest over (InCall -> HandedOver): the worker completes such an
// operation as soon as its call returns. Exactly one party completes each operation (the Completed flag).
internal sealed class ThreadletEngine : AioEngine
{
    // A thread blocked on a non-blocking descriptor (a FIFO) waits in slices this long, so it notices cancellation.
    private const int WaitSliceMs = 50;


    private const int Waiting = 0;
    private const int InCall = 1;
    private const int CallDone = 2;
    private const int Claimed = 3;
    private const int HandedOver = 4;

    private readonly AsyncFileOptions _options;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    // Loop thread, and the engine's shutdown or a finishing thread at shutdown: guarded by itself.
    private readonly Dictionary<AioOperation, Offloaded> _offloaded = new();
    // Pulsed whenever an operation leaves its system call, for the engine's shutdown waiting on them.
    private readonly object _callsLeft = new();
    // Set by the engine's shutdown: a result arriving later has no loop to go to.
    private bool _shuttingDown;

    public ThreadletEngine(EventLoop loop, AsyncFileOptions options, Microsoft.Extensions.Logging.ILogger logger) : base(loop)
    {
        _options = options;
        _logger = logger;
    }

    /// <summary>Test hook: runs on the worker inside an operation's system-call phase, before the call.</summary>
    internal Action<AioOperation>? InSystemCallForTest { get; set; }

    /// <summary>One offloaded operation's hand-off state.</summary>
    private sealed class Offloaded
    {
        public readonly CancellationTokenSource Cancellation = new();
        public int Phase;
        private int _completed;

        /// <summary>True for the one party that completes the operation.</summary>
        public bool TryClaimCompletion() => Interlocked.Exchange(ref _completed, 1) == 0;
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
        Offloaded? entry;
        lock (_offloaded)
        {
            _offloaded.TryGetValue(op, out entry);
        }
        entry?.Cancellation.Cancel();
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
        var entry = new Offloaded();
        lock (_offloaded)
        {
            _offloaded.Add(op, entry);
        }
        ValueTask<int> task;
        try
        {
            task = Loop.Threadlet(t => RunOffloaded(t, op, entry), entry.Cancellation.Token);
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

    private async ValueTask<int> RunOffloaded(Threadlet threadlet, AioOperation op, Offloaded entry) =>
        await threadlet.Blocking(token => RunGuarded(op, entry, token));

    /// <summary>The worker's side of the shutdown protocol around the blocking call.</summary>
    private int RunGuarded(AioOperation op, Offloaded entry, CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref entry.Phase, InCall, Waiting) != Waiting)
        {
            return -Errno.ECANCELED; // the engine's shutdown completed it: its buffer and descriptor are gone
        }
        int rc = -Errno.EIO;
        try
        {
            InSystemCallForTest?.Invoke(op);
            rc = RunBlocking(op, token);
        }
        finally
        {
            if (Interlocked.CompareExchange(ref entry.Phase, CallDone, InCall) == HandedOver && entry.TryClaimCompletion())
            {
                // Shutdown stopped waiting for this call; now that it returned, nothing uses the buffer or descriptor.
                op.Complete(-Errno.ECANCELED, shuttingDown: true);
            }
            lock (_callsLeft)
            {
                Monitor.PulseAll(_callsLeft);
            }
        }
        return rc;
    }

    /// <summary>
    /// The loop is being disposed: results of offloaded operations would go to a loop that never runs again, so they
    /// complete here, as cancelled, each once its system call (if it started one) has returned; a call still running
    /// after ShutdownTimeout completes its operation when it returns.
    /// </summary>
    public override void Shutdown()
    {
        Volatile.Write(ref _shuttingDown, true);
        CompleteUnstarted();
        KeyValuePair<AioOperation, Offloaded>[] entries;
        lock (_offloaded)
        {
            // Left in the table: a result arriving meanwhile finds its entry, and the completion claim decides.
            entries = [.. _offloaded];
        }
        foreach ((_, Offloaded entry) in entries)
        {
            try
            {
                // Wakes calls that wait for readiness (a FIFO) and takes queued ones out of line.
                entry.Cancellation.Cancel();
            }
            catch (AggregateException)
            {
                // A threadlet's cancellation callback failed; the operation is completed below regardless.
            }
        }

        var running = new List<(AioOperation Op, Offloaded Entry)>();
        foreach ((AioOperation op, Offloaded entry) in entries)
        {
            if (Interlocked.CompareExchange(ref entry.Phase, Claimed, Waiting) is Waiting or CallDone)
            {
                CompleteAtShutdown(op, entry);
            }
            else
            {
                running.Add((op, entry));
            }
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        lock (_callsLeft)
        {
            while (running.Exists(r => Volatile.Read(ref r.Entry.Phase) == InCall) && clock.Elapsed < _options.ShutdownTimeout)
            {
                TimeSpan left = _options.ShutdownTimeout - clock.Elapsed;
                Monitor.Wait(_callsLeft, left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
        }

        int handedOver = 0;
        foreach ((AioOperation op, Offloaded entry) in running)
        {
            if (Interlocked.CompareExchange(ref entry.Phase, HandedOver, InCall) == InCall)
            {
                handedOver++;
            }
            else
            {
                CompleteAtShutdown(op, entry);
            }
        }
        if (handedOver > 0)
        {
            Log.OperationsStillInSystemCall(_logger, Loop.Name, handedOver, _options.ShutdownTimeout);
        }
    }

    private static void CompleteAtShutdown(AioOperation op, Offloaded entry)
    {
        if (entry.TryClaimCompletion())
        {
            op.Complete(-Errno.ECANCELED, shuttingDown: true);
        }
    }

    /// <summary>
    /// The threadlet's result: on the loop thread normally; on another thread when the threadlet runtime hands results
    /// over at shutdown, where after this engine's hook the loop can no longer take a completion.
    /// </summary>
    private void Finish(AioOperation op, int result)
    {
        Offloaded? entry;
        lock (_offloaded)
        {
            _offloaded.Remove(op, out entry);
        }
        if (entry is null || !entry.TryClaimCompletion())
        {
            return; // completed at shutdown (a descriptor an open produced was closed then)
        }
        entry.Cancellation.Dispose();
        bool shuttingDown = Volatile.Read(ref _shuttingDown);
        op.Complete(shuttingDown ? -Errno.ECANCELED : result, shuttingDown);
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
        if (rc == -Errno.ESPIPE)
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
