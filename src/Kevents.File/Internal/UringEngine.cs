using System.Diagnostics;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.File.Internal;

// The io_uring engine of one loop.
//
// Submission. Operations are prepared into the SQ as they are started during a turn; the SQ is sent to the kernel
// once per turn: at the end of the completion handler (which is where most new operations come from: code resumed by
// a completion starts the next read) or else by one flush posted to the loop the first time something is prepared.
// When the SQ is full, it is submitted at once and the entry retried; an operation that still finds no room (the
// kernel answered EBUSY because completions must be reaped first) waits in a FIFO backlog drained after each reap.
//
// Cached reads inline. A read first tries preadv2(RWF_NOWAIT) on the loop thread, as the threadlet engine does: data in
// the page cache is copied at once and the read completes without a ring round trip (no SQE, no CQE, no eventfd
// wake-up, no pin held across a turn). EAGAIN (not cached) or any error sends it to the ring as before, which then
// reports the real outcome. A per-file NoWaitHint skips the attempt for a while after a miss, so cold files do not pay
// a refused system call per read; a per-turn budget (MaxInlinePerTurn reads) keeps a read loop over a large cached
// file from holding the loop thread: past it, reads go through the ring and resume next turn.
//
// Completion. The ring's eventfd is registered in the loop's poller as a Read kevent. Its handler drains the eventfd
// first, then reaps (TryReap flushes kernel-held overflow, so nothing is lost with a tiny CQ), each CQE completing the
// operation whose id is in its user data. Reaping is bounded per turn; if more remain, the rest is posted.
//
// Cancellation. An ASYNC_CANCEL entry carries the target's id with the top bit set; its own completion is ignored.
// The target still completes exactly once (with -ECANCELED or its real result, which AioOperation turns into
// -ECANCELED, closing a descriptor an open produced).
//
// Threading: loop thread only, except the engine's shutdown, which runs after the loop stopped.
internal sealed partial class UringEngine : AioEngine
{
    private const ulong CancelTag = 1UL << 63;


    // Bounds the completions handled in one turn so a flood of CQEs cannot starve sockets and timers (STYLE: the
    // loop never starves); 1024 matches the default CQ of a 512-entry ring.
    private const int MaxReapPerTurn = 1024;

    // Reads completed inline per loop turn before the rest go through the ring (see the header): 256 reads of 4 KiB is
    // about 1 MiB copied, some tens of microseconds.
    private const int MaxInlinePerTurn = 256;

    private readonly IoUringRing _ring;
    private readonly AsyncFileOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<ulong, AioOperation> _inFlight = new();
    private readonly Queue<AioOperation> _backlog = new();
    private readonly Queue<ulong> _cancelBacklog = new();
    private readonly Action<object?> _flush;
    private readonly Action<object?> _reapMore;
    private ulong _lastId;
    private bool _flushQueued;
    private bool _reapQueued;
    private bool _shutDown;
    private uint _droppedReported;
    private readonly NoWaitHint _keventHint = new();
    private long _inlineTurn = -1;
    private int _inlineThisTurn;

    private UringEngine(EventLoop loop, IoUringRing ring, AsyncFileOptions options, ILogger logger) : base(loop)
    {
        _ring = ring;
        _options = options;
        _logger = logger;
        _flush = static s => ((UringEngine)s!).Flush();
        _reapMore = static s => ((UringEngine)s!).ReapMore();
    }

    public override AsyncFileEngine Kind => AsyncFileEngine.IoUring;

    /// <summary>Operations started and not yet completed (for tests and shutdown).</summary>
    public int InFlight => _inFlight.Count;

    internal IoUringRing Ring => _ring;

    /// <summary>Reads completed inline from the page cache (preadv2 with RWF_NOWAIT), without the ring. For tests.</summary>
    internal long InlineReads { get; private set; }

    /// <summary>Reads that went through the ring. For tests.</summary>
    internal long RingReads { get; private set; }

    /// <summary>
    /// Creates the loop's ring and registers its eventfd. Loop thread (or before the loop runs). Returns 0, or -errno
    /// when io_uring cannot be used (setup refused, or the kernel lacks one of the operations).
    /// </summary>
    public static int TryCreate(EventLoop loop, AsyncFileOptions options, ILogger logger, out UringEngine? engine)
    {
        engine = null;
        int rc = IoUringRing.Create(options.RingEntries, out IoUringRing? ring, options.IoUringSetup);
        if (rc < 0)
        {
            return rc;
        }
        foreach (byte opcode in new[] { IoUringOpcode.OpenAt, IoUringOpcode.Read, IoUringOpcode.Write, IoUringOpcode.Fsync,
                     IoUringOpcode.Statx, IoUringOpcode.Close, IoUringOpcode.AsyncCancel })
        {
            if (!ring!.Supports(opcode))
            {
                ring.Dispose();
                return -Errno.EOPNOTSUPP;
            }
        }
        var created = new UringEngine(loop, ring!, options, logger);
        loop.Register(Kevent.Read(ring!.CompletionEventFd), created.OnCompletionsReady);
        engine = created;
        return 0;
    }

    protected override void StartOnLoop(AioOperation op)
    {
        Debug.Assert(op.State == AioOperationState.New);
        if (_shutDown)
        {
            op.Complete(-Errno.ECANCELED, shuttingDown: true);
            return;
        }
        if (op.CancelRequested)
        {
            op.Complete(-Errno.ECANCELED);
            return;
        }
        if (op.Kind == AioKind.Read)
        {
            if (TryReadInline(op))
            {
                return;
            }
            RingReads++;
        }
        op.Id = NextId();
        _inFlight.Add(op.Id, op);
        if (_backlog.Count == 0 && TryPrepare(op))
        {
            op.State = AioOperationState.Submitted;
        }
        else
        {
            op.State = AioOperationState.Backlogged;
            _backlog.Enqueue(op);
        }
        RequestFlush();
    }

    /// <summary>Completes <paramref name="op"/> from the page cache when its data is there; false: use the ring.</summary>
    private bool TryReadInline(AioOperation op)
    {
        NoWaitHint hint = op.Hint ?? _keventHint;
        if (!hint.ShouldTry())
        {
            return false;
        }
        long turn = Loop.NowNanoseconds;
        if (turn != _inlineTurn)
        {
            _inlineTurn = turn;
            _inlineThisTurn = 0;
        }
        if (_inlineThisTurn >= MaxInlinePerTurn)
        {
            return false;
        }
        long rc = NativeFile.Read(op.Fd, op.Buffer.Span, op.Offset, noWait: true);
        if (rc < 0)
        {
            // EAGAIN: not cached. Anything else (a pipe's ESPIPE, EBADF...) the ring answers in its own way, as before.
            hint.Missed();
            return false;
        }
        hint.Hit();
        _inlineThisTurn++;
        InlineReads++;
        op.State = AioOperationState.Submitted;
        op.Complete((int)rc);
        return true;
    }

    protected override void CancelOnLoop(AioOperation op)
    {
        switch (op.State)
        {
            case AioOperationState.New:
                // Not yet on the loop (its start is posted): the start sees the flag and completes it.
                op.CancelRequested = true;
                return;
            case AioOperationState.Backlogged:
                op.CancelRequested = true;
                RemoveFromBacklog(op);
                _inFlight.Remove(op.Id);
                op.Complete(-Errno.ECANCELED);
                return;
            case AioOperationState.Submitted when !op.CancelRequested:
                op.CancelRequested = true;
                if (!TryPrepareCancel(op.Id))
                {
                    _cancelBacklog.Enqueue(op.Id);
                }
                RequestFlush();
                return;
        }
    }

    private ulong NextId()
    {
        // Ids never reach the cancel tag bit: 2^63 operations would take millennia.
        ulong id = ++_lastId;
        Debug.Assert((id & CancelTag) == 0);
        return id;
    }

    /// <summary>Fills an SQE for <paramref name="op"/>; when the SQ is full, submits it once and retries.</summary>
    private bool TryPrepare(AioOperation op)
    {
        if (Prepare(op))
        {
            return true;
        }
        return SubmitNow() >= 0 && Prepare(op);
    }

    private bool Prepare(AioOperation op) => op.Kind switch
    {
        AioKind.Open => _ring.PrepareOpenAt(NativeFile.CurrentDirectory, op.PathPin, op.NativeOpenFlags, (uint)op.CreateMode, op.Id),
        AioKind.Read => _ring.PrepareRead(op.Fd, op.Pin, (uint)op.Buffer.Length, op.Offset, op.Id),
        AioKind.Write => _ring.PrepareWrite(op.Fd, op.Pin, (uint)op.Buffer.Length, op.Offset, op.Id),
        AioKind.Fsync => _ring.PrepareFsync(op.Fd, op.DataOnly, op.Id),
        AioKind.Stat => _ring.PrepareStatxOfFile(op.Fd, op.StatxPin, op.Id),
        _ => _ring.PrepareClose(op.Fd, op.Id),
    };

    private bool TryPrepareCancel(ulong target)
    {
        if (_ring.PrepareCancel(target, target | CancelTag))
        {
            return true;
        }
        return SubmitNow() >= 0 && _ring.PrepareCancel(target, target | CancelTag);
    }

    private void RequestFlush()
    {
        if (!_flushQueued && !_shutDown)
        {
            _flushQueued = true;
            Loop.Post(_flush, this);
        }
    }

    private void Flush()
    {
        _flushQueued = false;
        SubmitPending();
    }

    /// <summary>Sends the SQ, then moves backlogged work into the room that made, until the backlog is empty or the kernel is busy.</summary>
    private void SubmitPending()
    {
        while (true)
        {
            int rc = SubmitNow();
            if (rc < 0)
            {
                // EBUSY/EAGAIN: the kernel wants completions reaped first; the eventfd will call us back.
                return;
            }
            bool moved = false;
            while (_cancelBacklog.Count > 0 && _ring.PrepareCancel(_cancelBacklog.Peek(), _cancelBacklog.Peek() | CancelTag))
            {
                _cancelBacklog.Dequeue();
                moved = true;
            }
            while (_backlog.Count > 0 && Prepare(_backlog.Peek()))
            {
                _backlog.Dequeue().State = AioOperationState.Submitted;
                moved = true;
            }
            if (!moved)
            {
                return;
            }
        }
    }

    private int SubmitNow()
    {
        if (_ring.PendingSubmissions == 0)
        {
            return 0;
        }
        int rc = _ring.Submit();
        if (rc < 0 && rc != -Errno.EBUSY && rc != -Errno.EAGAIN)
        {
            Log.SubmitFailed(_logger, Loop.Name, Errno.Describe(-rc));
        }
        return rc;
    }

    private void OnCompletionsReady(in Kevent kevent)
    {
        EventFd.Drain(_ring.CompletionEventFd);
        Reap();
    }

    private void ReapMore()
    {
        _reapQueued = false;
        Reap();
    }

    private void Reap()
    {
        int budget = MaxReapPerTurn;
        while (budget > 0 && _ring.TryReap(out IoUringCompletion completion))
        {
            budget--;
            Dispatch(completion, shuttingDown: false);
        }
        if (budget == 0 && !_reapQueued)
        {
            // Completions may remain, and the drained eventfd will not say so again: come back next turn.
            _reapQueued = true;
            Loop.Post(_reapMore, this);
        }
        CheckDropped();
        // Work started by the code those completions resumed goes out now, in this turn, with one system call.
        SubmitPending();
    }

    private void Dispatch(in IoUringCompletion completion, bool shuttingDown)
    {
        if ((completion.UserData & CancelTag) != 0)
        {
            // A cancel request's own answer (0, -ENOENT, -EALREADY); the target reports for itself.
            return;
        }
        if (_inFlight.Remove(completion.UserData, out AioOperation? op))
        {
            op.Complete(completion.Result, shuttingDown);
        }
        else
        {
            Log.UnknownCompletion(_logger, completion.UserData, completion.Result);
        }
    }

    private void RemoveFromBacklog(AioOperation op)
    {
        int count = _backlog.Count;
        for (int i = 0; i < count; i++)
        {
            AioOperation next = _backlog.Dequeue();
            if (next != op)
            {
                _backlog.Enqueue(next);
            }
        }
    }

    private void CheckDropped()
    {
        uint dropped = _ring.DroppedCompletions;
        if (dropped != _droppedReported)
        {
            _droppedReported = dropped;
            Log.CompletionsDropped(_logger, Loop.Name, dropped);
        }
    }
}
