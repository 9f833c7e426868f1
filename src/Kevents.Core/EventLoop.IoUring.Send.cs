using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// Sends through the ring on the io_uring backend. A connection with output asks for a flush (RequestRingFlush) while
// handlers run; just before the turn's io_uring_enter the loop lets every connection that asked prepare its SEND
// (IRingSender.PrepareRingSends), so all of a turn's sends go to the kernel in that one call, beside the wait. A send's
// completion becomes a Write kevent (FilterFlags carry SentFilterFlag, Data the byte count or -errno) delivered
// through the one dispatcher to the handler the send named, whether or not the connection still has registrations:
// the sender owns the bytes until then, so a closed connection learns there that it may give its buffer back.
// The loop keeps only a small table of sends in flight (handler and user data), indexed by the completion's user data.
public sealed partial class EventLoop
{
    /// <summary>The environment variable that turns ring sends on (1) or off (0) where the options leave it open.</summary>
    internal const string RingSendsEnvironmentVariable = "KEVENTS_IO_URING_SENDS";

    /// <summary>In a delivered Write kevent's FilterFlags: the completion of a send prepared by <see cref="PrepareRingSend"/>.</summary>
    internal const uint SentFilterFlag = 1u << 29;

    private const ulong RingKindSend = 7UL << 56; // 6 is the multishot accept's
    private const ulong RingKindSendCancel = 8UL << 56;
    // BatchEntry.Buffer of a send's completion (the receive path uses positive buffer ids there).
    private const int SentMarker = int.MinValue;

    private bool _ringSends;
    private SendOp[] _sendOps = new SendOp[64];
    private int[] _freeSendOps = new int[64];
    private int _freeSendCount;
    private int _sendOpCount;
    private List<IRingSender> _flushes = new();
    private List<IRingSender> _flushing = new();
    private bool _runningFlushes;
    // Senders that ask before a turn's sends are submitted in a group mid-turn (0: all at the turn's end).
    private int _ringSendBatch;

    private struct SendOp
    {
        public KeventHandler? Handler;
        public ulong UserData;
        public int Fd;
    }

    /// <summary>True when connections on this loop send through the ring (io_uring backend with ring sends on).</summary>
    internal bool SendsInRing => _ringSends;

    /// <summary>Times a turn submitted a group of sends before its end (<see cref="EventLoopOptions.IoUringSendBatch"/>), for tests.</summary>
    internal long MidTurnSendSubmits { get; private set; }

    /// <summary>Sends prepared and not yet completed, for tests.</summary>
    internal int SendsInFlight => _sendOpCount - _freeSendCount;

    /// <summary>Decides at start whether connections send through the ring: the options, else the environment, else off.</summary>
    private void StartRingSends()
    {
        bool wanted = _options.IoUringSends ?? Environment.GetEnvironmentVariable(RingSendsEnvironmentVariable) switch
        {
            "1" or "true" or "on" => true,
            _ => false,
        };
        int batch = _options.IoUringSendBatch
            ?? (int.TryParse(Environment.GetEnvironmentVariable(RingSendsEnvironmentVariable + "_BATCH"), out int fromEnvironment) ? fromEnvironment : 0);
        _ringSendBatch = Math.Max(0, batch);
        _ringSends = wanted && _uring!.Supports(IoUringOpcode.Send) && _uring.Supports(IoUringOpcode.AsyncCancel);
    }

    /// <summary>
    /// Asks for <paramref name="sender"/>'s <see cref="IRingSender.PrepareRingSends"/> before this turn's submission.
    /// The sender asks at most once per turn (it keeps its own flag). Loop thread only.
    /// </summary>
    internal void RequestRingFlush(IRingSender sender)
    {
        _flushes.Add(sender);
        if (_flushes.Count >= _ringSendBatch && _ringSendBatch > 0 && !_runningFlushes)
        {
            // A long turn submits its sends in groups as it goes, so the first peers get their answers (and the
            // machine's other cores work on them) while the rest of the turn still runs: one syscall per group.
            RunRingFlushes();
            FlushSubmissions();
            MidTurnSendSubmits++;
        }
    }

    /// <summary>
    /// Prepares send(<paramref name="fd"/>, <paramref name="buffer"/>, <paramref name="length"/>); its completion goes to
    /// <paramref name="onSent"/> as a Write kevent with <see cref="SentFilterFlag"/> and <paramref name="userData"/>.
    /// The caller keeps the bytes pinned and unchanged until then. Returns the send's number (for
    /// <see cref="CancelRingSend"/>), or -EBUSY when the ring takes nothing more now. Loop thread only.
    /// </summary>
    internal int PrepareRingSend(int fd, nint buffer, int length, KeventHandler onSent, ulong userData)
    {
        int op;
        if (_freeSendCount > 0)
        {
            op = _freeSendOps[--_freeSendCount];
        }
        else
        {
            if (_sendOpCount == _sendOps.Length)
            {
                Array.Resize(ref _sendOps, _sendOps.Length * 2);
                Array.Resize(ref _freeSendOps, _freeSendOps.Length * 2);
            }
            op = _sendOpCount++;
        }
        IoUringRing ring = _uring!;
        ulong ringData = RingKindSend | (uint)op;
        if (!ring.PrepareSend(fd, buffer, length, ringData) && !(FlushSubmissions() && ring.PrepareSend(fd, buffer, length, ringData)))
        {
            _freeSendOps[_freeSendCount++] = op;
            return -Errno.EBUSY;
        }
        _sendOps[op] = new SendOp { Handler = onSent, UserData = userData, Fd = fd };
        return op;
    }

    /// <summary>
    /// Asks the kernel to cancel send <paramref name="op"/> (a connection closed while it waited for room); its completion
    /// still comes (-ECANCELED, or its result if it finished first), and only then may the sender release the bytes.
    /// </summary>
    internal void CancelRingSend(int op)
    {
        if ((uint)op >= (uint)_sendOpCount || _sendOps[op].Handler is null)
        {
            return;
        }
        IoUringRing ring = _uring!;
        ulong target = RingKindSend | (uint)op;
        if (!ring.PrepareCancel(target, RingKindSendCancel))
        {
            // A full queue: send what is prepared and try once more; if the kernel still takes nothing the send completes
            // on its own when the peer reads or the connection's file goes (its close is only delayed meanwhile).
            _ = FlushSubmissions() && ring.PrepareCancel(target, RingKindSendCancel);
        }
    }

    /// <summary>Start of phase 5 on io_uring: every sender that asked prepares its sends, which the wait then submits.</summary>
    private void RunRingFlushes()
    {
        // Swapped first: a sender the ring refused asks again for the next turn without looping here.
        (_flushes, _flushing) = (_flushing, _flushes);
        _runningFlushes = true;
        try
        {
            foreach (IRingSender sender in _flushing)
            {
                sender.PrepareRingSends();
            }
        }
        finally
        {
            _runningFlushes = false;
            _flushing.Clear();
        }
    }

    private bool HasRingFlushes => _flushes.Count > 0;

    /// <summary>A send's completion: into the batch, so the sender hears of it in dispatch order.</summary>
    private void CollectSend(in IoUringCompletion c)
    {
        int op = (int)(uint)c.UserData;
        if ((uint)op >= (uint)_sendOpCount || _sendOps[op].Handler is null)
        {
            return;
        }
        int result = c.Result;
        KeventFlags flags = result < 0 ? KeventFlags.Error : KeventFlags.None;
        Append(new Kevent((ulong)_sendOps[op].Fd, KeventFilter.Write, flags, SentFilterFlag, result, _sendOps[op].UserData), op, SentMarker);
    }

    /// <summary>Delivers a send's completion to its sender and frees its slot.</summary>
    private void DispatchSent(in BatchEntry batched, Span<Kevent> output, ref int written)
    {
        int op = batched.Epoch;
        KeventHandler? handler = _sendOps[op].Handler;
        if (handler is null)
        {
            return;
        }
        _sendOps[op] = default;
        _freeSendOps[_freeSendCount++] = op;
        Deliver(batched.Kevent, handler, output, ref written);
    }

    /// <summary>
    /// On dispose: the ring is gone, so sends still in flight will never complete; their senders hear -ECANCELED now
    /// and give their buffers back.
    /// </summary>
    private void AbandonRingSends()
    {
        for (int op = 0; op < _sendOpCount; op++)
        {
            KeventHandler? handler = _sendOps[op].Handler;
            if (handler is null)
            {
                continue;
            }
            Kevent ev = new((ulong)_sendOps[op].Fd, KeventFilter.Write, KeventFlags.Error, SentFilterFlag, -Errno.ECANCELED, _sendOps[op].UserData);
            _sendOps[op] = default;
            _freeSendOps[_freeSendCount++] = op;
            try
            {
                handler(in ev);
            }
            catch (Exception ex)
            {
                Log.HandlerFailed(_logger, Describe(handler), ev, ex);
            }
        }
    }
}

/// <summary>A connection that sends through the ring: asked once per turn, before the submission, to prepare its sends.</summary>
internal interface IRingSender
{
    /// <summary>Prepares this connection's send (if any) with <see cref="EventLoop.PrepareRingSend"/>. Never throws.</summary>
    void PrepareRingSends();
}
