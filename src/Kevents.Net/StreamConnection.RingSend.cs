using System.Runtime.InteropServices;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

// Sends through the loop's ring (io_uring backend with ring sends on; EventLoop.IoUring.Send.cs). Write copies into the
// queue and asks the loop for one flush this turn; at the flush the queue's array becomes the send in flight: pinned,
// handed to the kernel whole, and neither moved nor written until the send's completion, while new writes go to a
// fresh array. At most one send is in flight, so the bytes leave in the order they were written; a partial send sends
// the rest from where it stopped before anything queued after it. A failed send is a reset, as on the direct path.
// A connection closed while its send waits for room cancels the send and gives the array back only at the completion,
// which always comes (the loop delivers -ECANCELED itself when it is disposed first).
public sealed partial class StreamConnection : IRingSender
{
    private readonly KeventHandler? _onSent;
    private byte[]? _inflight;
    private GCHandle _inflightPin;
    private int _inflightStart;
    private int _inflightCount;
    private int _sendOp = -1;
    private long _sendSubmittedNs;
    private bool _flushRequested;

    /// <summary>True while a send of this connection is with the kernel (for tests).</summary>
    internal bool SendInFlight => _sendOp >= 0;

    private void WriteToRing(ReadOnlySpan<byte> data)
    {
        Enqueue(data);
        if (_sendOp < 0)
        {
            RequestFlush();
        }
        else if (_loop.NowNanoseconds > _sendSubmittedNs)
        {
            // The send submitted in an earlier turn has not completed: the kernel waits for the peer to make room.
            BeginOutputStall();
        }
        if (!_writerPaused && QueuedOutput >= _options.MaxOutputBufferSize)
        {
            _writerPaused = true;
            PauseReading();
        }
    }

    private void RequestFlush()
    {
        if (!_flushRequested)
        {
            _flushRequested = true;
            _loop.RequestRingFlush(this);
        }
    }

    /// <summary>The loop's flush, just before the turn's submission: the queue becomes the send in flight.</summary>
    void IRingSender.PrepareRingSends()
    {
        _flushRequested = false;
        if (IsClosed || _sendOp >= 0)
        {
            return;
        }
        if (_inflight is null)
        {
            if (_pendingCount == 0)
            {
                return;
            }
            _inflight = _pending;
            _inflightStart = _pendingStart;
            _inflightCount = _pendingCount;
            _pending = null;
            _pendingStart = 0;
            _pendingCount = 0;
            _inflightPin = GCHandle.Alloc(_inflight, GCHandleType.Pinned);
        }
        SubmitInflight();
    }

    private void SubmitInflight()
    {
        // Safety: the array is pinned by _inflightPin until ReleaseInflight, which runs only after the send's completion.
        nint start = _inflightPin.AddrOfPinnedObject() + _inflightStart;
        int op = _loop.PrepareRingSend(_socket!.Fd, start, _inflightCount, _onSent!, 0);
        if (op < 0)
        {
            // The ring takes nothing more this turn: try again at the next one.
            RequestFlush();
            return;
        }
        _sendOp = op;
        _sendSubmittedNs = _loop.NowNanoseconds;
    }

    private void OnSent(in Kevent ev)
    {
        _sendOp = -1;
        if (IsClosed)
        {
            ReleaseInflight();
            return;
        }
        long result = ev.Data;
        if (result < 0)
        {
            // EPIPE, ECONNRESET, ...: the peer is gone, never an orderly end.
            ReleaseInflight();
            CloseSocket(NetErrors.Reset(Id, (int)result));
            return;
        }
        if (result > 0)
        {
            MarkActive();
            BytesWritten += result;
            _inflightStart += (int)result;
            _inflightCount -= (int)result;
        }
        if (_inflightCount > 0)
        {
            // The socket was full: the rest goes next, before anything queued later, and the peer's pace is judged.
            BeginOutputStall();
            SubmitInflight();
            if (_writerPaused && QueuedOutput <= _options.ResumeOutputBufferSize)
            {
                ResumeWriter();
            }
            return;
        }
        ReleaseInflight();
        if (_pendingCount > 0)
        {
            RequestFlush();
            if (_writerPaused && QueuedOutput <= _options.ResumeOutputBufferSize)
            {
                ResumeWriter();
            }
            return;
        }
        OnOutputDrained();
    }

    private void ReleaseInflight()
    {
        if (_inflight is null)
        {
            return;
        }
        _inflightPin.Free();
        NetBuffers.Arrays.Return(_inflight);
        _inflight = null;
        _inflightStart = 0;
        _inflightCount = 0;
    }

    /// <summary>From OnClosed: a send with the kernel is cancelled and keeps its array until its completion; else it goes back now.</summary>
    private void ReleaseRingSendOnClose()
    {
        if (_sendOp >= 0)
        {
            _loop.CancelRingSend(_sendOp);
            return;
        }
        ReleaseInflight();
    }
}
