using System.Buffers;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>
/// A connection for the low-level API (<see cref="IStreamHandler"/>): bytes arrive in a loop-owned buffer and
/// <see cref="Write"/> sends straight to the socket from the loop thread. Only output the kernel cannot take at
/// once is copied, into a pooled buffer, and sent when the socket becomes writable. Loop thread only.
/// </summary>
/// <remarks>
/// Backpressure: when queued output reaches <see cref="ConnectionOptions.MaxOutputBufferSize"/> the connection stops
/// reading (so a peer that does not read cannot make the server buffer without bound); when it falls to
/// <see cref="ConnectionOptions.ResumeOutputBufferSize"/> reading resumes and <see cref="IStreamHandler.OnDrained"/> runs.
/// </remarks>
public sealed partial class StreamConnection : Connection
{
    private readonly IStreamHandler _handler;
    private readonly ReadBuffer _readBuffer;
    private byte[]? _pending;
    private int _pendingStart;
    private int _pendingCount;
    private bool _writerPaused;
    private bool _closeWhenDrained;
    private bool _shutdownWhenDrained;
    private bool _inputDone;

    internal StreamConnection(EventLoop loop, FileDescriptor socket, ConnectionOptions options, SocketServer? server, IStreamHandler handler, ReadBuffer readBuffer)
        : base(loop, socket, options, server)
    {
        _handler = handler;
        _readBuffer = readBuffer;
        if (loop.SendsInRing)
        {
            _onSent = OnSent;
        }
    }

    /// <summary>Whatever the application wants to keep with this connection (parser state, a session).</summary>
    public object? State { get; set; }

    /// <summary>Bytes accepted by <see cref="Write"/> that the kernel has not taken yet.</summary>
    public int QueuedOutput => _pendingCount + _inflightCount;

    /// <summary>True while reading is paused because queued output reached its cap.</summary>
    public bool IsWriterPaused => _writerPaused;

    internal void Begin()
    {
        if (!TryStart())
        {
            return;
        }
        try
        {
            _handler.OnConnected(this);
        }
        catch (Exception ex)
        {
            ApplicationFailed(ex);
        }
    }

    /// <summary>The handler threw: only this connection ends (reset), and the failure is logged as the application's.</summary>
    private void ApplicationFailed(Exception error)
    {
        NetLog.ApplicationFailed(_logger, Id, error);
        AbortNow("the stream handler failed", deferNotification: false);
    }

    /// <summary>
    /// Sends <paramref name="data"/>: straight to the socket when nothing is queued, otherwise (or for the part the
    /// kernel did not take) into the queue, in order. Returns false when the connection is closed or closing.
    /// </summary>
    public bool Write(ReadOnlySpan<byte> data)
    {
        AssertOwnLoop();
        if (IsClosed || _closeWhenDrained || _shutdownWhenDrained)
        {
            return false;
        }
        if (data.IsEmpty)
        {
            return true;
        }
        MarkActive();
        if (_onSent is not null)
        {
            WriteToRing(data);
            return true;
        }
        if (_pendingCount == 0)
        {
            long sent = NativeSocket.Send(_socket!.Fd, data);
            if (sent > 0)
            {
                BytesWritten += sent;
            }
            if (sent == data.Length)
            {
                return true;
            }
            if (sent < 0 && sent != -Errno.EAGAIN)
            {
                // Called by the application: it hears of the close after this call, not inside it.
                CloseSocket(NetErrors.Reset(Id, (int)sent), reset: false, deferNotification: true);
                return false;
            }
            data = data[(int)Math.Max(0, sent)..];
        }
        Enqueue(data);
        WatchWritable(true);
        BeginOutputStall();
        if (!_writerPaused && _pendingCount >= _options.MaxOutputBufferSize)
        {
            _writerPaused = true;
            PauseReading();
        }
        return true;
    }

    /// <summary>Closes gracefully: queued output is sent first (FIN after it), then the socket is closed.</summary>
    public override void Close()
    {
        AssertOwnLoop();
        if (IsClosed)
        {
            return;
        }
        if (QueuedOutput == 0)
        {
            CloseSocket(null, deferNotification: true);
            return;
        }
        _closeWhenDrained = true;
        StopReading();
    }

    /// <summary>Half-closes: sends FIN once queued output is out; reading goes on until the peer closes.</summary>
    public void Shutdown()
    {
        AssertOwnLoop();
        if (IsClosed)
        {
            return;
        }
        if (QueuedOutput == 0)
        {
            NativeSocket.Shutdown(_socket!.Fd, System.Net.Sockets.SocketShutdown.Send);
            if (_inputDone)
            {
                CloseSocket(null, deferNotification: true);
            }
            return;
        }
        _shutdownWhenDrained = true;
    }

    internal override void RequestShutdown()
    {
        if (IsClosed)
        {
            return;
        }
        if (QueuedOutput == 0)
        {
            CloseSocket(null);
            return;
        }
        _closeWhenDrained = true;
        StopReading();
    }

    private void Enqueue(ReadOnlySpan<byte> data)
    {
        int needed = _pendingCount + data.Length;
        if (_pending is null || needed > _pending.Length - _pendingStart)
        {
            if (_pending is not null && needed <= _pending.Length)
            {
                // Room exists if we move the unsent bytes to the front.
                Buffer.BlockCopy(_pending, _pendingStart, _pending, 0, _pendingCount);
            }
            else
            {
                byte[] bigger = NetBuffers.Arrays.Rent(Math.Max(needed, 4096));
                if (_pending is not null)
                {
                    Buffer.BlockCopy(_pending, _pendingStart, bigger, 0, _pendingCount);
                    NetBuffers.Arrays.Return(_pending);
                }
                _pending = bigger;
            }
            _pendingStart = 0;
        }
        data.CopyTo(_pending.AsSpan(_pendingStart + _pendingCount));
        _pendingCount += data.Length;
    }

    // On the io_uring backend the loop receives for this connection (multishot receive into its provided buffers) and
    // hands OnData the kernel's buffer itself: no copy, no read call.
    private protected override uint ReadFilterFlags => _loop.ReceiveInRingIfSupported;

    private protected override void OnReadable(in Kevent ev)
    {
        if ((ev.FilterFlags & EventLoop.ReceivedFilterFlag) != 0)
        {
            OnReceived(ev);
            return;
        }
        byte[] buffer = _readBuffer.Array;
        // A few reads per event when the buffer fills, then let other connections have their turn.
        for (int i = 0; i < 4 && !IsClosed; i++)
        {
            long n = Io.Read(_socket!.Fd, buffer);
            if (n > 0)
            {
                MarkInput();
                BytesRead += n;
                if (!Deliver(buffer.AsSpan(0, (int)n)))
                {
                    return;
                }
                if (n < buffer.Length || _writerPaused || _closeWhenDrained)
                {
                    return;
                }
                continue;
            }
            if (n == -Errno.EAGAIN)
            {
                return;
            }
            if (n == 0 && PeerError == 0)
            {
                OnEndOfInput();
                return;
            }
            // A read error, or the end of a connection epoll reported as failed (its SO_ERROR is in PeerError): a
            // reset, never a clean end of stream.
            CloseSocket(NetErrors.Reset(Id, n < 0 ? (int)n : PeerError));
            return;
        }
    }

    /// <summary>A chunk the loop received for this connection, its end of stream, or its failure (see EventLoop.IoUring.Receive.cs).</summary>
    private void OnReceived(in Kevent ev)
    {
        if (IsClosed)
        {
            return;
        }
        long n = ev.Data;
        if (n > 0)
        {
            MarkInput();
            BytesRead += n;
            Deliver(_loop.ReceivedBytes);
            return;
        }
        if (n == 0 && PeerError == 0)
        {
            OnEndOfInput();
            return;
        }
        // A failed receive: a reset, never a clean end of stream, exactly as on the read path.
        CloseSocket(NetErrors.Reset(Id, n < 0 ? (int)n : PeerError));
    }

    private void OnEndOfInput()
    {
        _inputDone = true;
        StopReading();
        try
        {
            _handler.OnEndOfStream(this);
        }
        catch (Exception ex)
        {
            ApplicationFailed(ex);
        }
    }

    private bool Deliver(ReadOnlySpan<byte> data)
    {
        try
        {
            _handler.OnData(this, data);
            return true;
        }
        catch (Exception ex)
        {
            ApplicationFailed(ex);
            return false;
        }
    }

    private protected override void OnWritable(in Kevent ev)
    {
        if (IsClosed)
        {
            return;
        }
        if (ev.IsError)
        {
            CloseSocket(NetErrors.Reset(Id, (int)ev.Data));
            return;
        }
        int budget = Math.Min(_pendingCount, _options.MaxWritePerTurn);
        long sent = NativeSocket.Send(_socket!.Fd, _pending.AsSpan(_pendingStart, budget));
        if (sent == -Errno.EAGAIN)
        {
            return;
        }
        if (sent < 0)
        {
            CloseSocket(NetErrors.Reset(Id, (int)sent));
            return;
        }
        MarkActive();
        BytesWritten += sent;
        _pendingStart += (int)sent;
        _pendingCount -= (int)sent;
        if (_pendingCount > 0)
        {
            if (_writerPaused && _pendingCount <= _options.ResumeOutputBufferSize)
            {
                ResumeWriter();
            }
            return;
        }
        // Everything is out: give the buffer back and stop asking for writability.
        NetBuffers.Arrays.Return(_pending!);
        _pending = null;
        _pendingStart = 0;
        WatchWritable(false);
        OnOutputDrained();
    }

    /// <summary>All queued output is out: a close or shutdown waiting for it goes ahead, a paused writer resumes.</summary>
    private void OnOutputDrained()
    {
        EndOutputStall();
        if (_closeWhenDrained)
        {
            CloseSocket(null);
            return;
        }
        if (_shutdownWhenDrained)
        {
            _shutdownWhenDrained = false;
            NativeSocket.Shutdown(_socket!.Fd, System.Net.Sockets.SocketShutdown.Send);
            if (_inputDone)
            {
                CloseSocket(null);
                return;
            }
        }
        if (_writerPaused)
        {
            ResumeWriter();
        }
    }

    private void ResumeWriter()
    {
        _writerPaused = false;
        if (!_inputDone && !_closeWhenDrained)
        {
            ResumeReading();
        }
        try
        {
            _handler.OnDrained(this);
        }
        catch (Exception ex)
        {
            ApplicationFailed(ex);
        }
    }

    private protected override void OnClosed(Exception? error)
    {
        if (_pending is not null)
        {
            NetBuffers.Arrays.Return(_pending);
            _pending = null;
            _pendingCount = 0;
        }
        ReleaseRingSendOnClose();
        try
        {
            _handler.OnClosed(this, error);
        }
        catch (Exception ex)
        {
            // The connection is already closed; the failure is the application's and ends there.
            NetLog.ApplicationFailed(_logger, Id, ex);
        }
    }
}
