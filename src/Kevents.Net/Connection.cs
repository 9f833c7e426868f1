using System.Net;
using Kevents.Internal;
using Kevents.Native;
using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Net;

/// <summary>
/// A connected stream socket on a loop: TCP or Unix. Everything about it happens on its loop's thread; only
/// <see cref="Abort"/> may also be called from another thread (it posts itself to the loop).
/// </summary>
/// <remarks>
/// Lifecycle: open, then closed exactly once, by the peer (FIN then the application's close, or a reset), by the
/// application (<see cref="Close"/> or <see cref="Abort"/>), by the idle timeout, by the peer taking queued output
/// more slowly than <see cref="ConnectionOptions.MinResponseDataRate"/>, or by server shutdown. After it is closed
/// no handler of this connection runs, its descriptor is closed and its buffers are back in their pools.
/// </remarks>
public abstract partial class Connection : ILoopTimerTarget
{
    private static long s_nextId;

    private protected readonly EventLoop _loop;
    private protected readonly ConnectionOptions _options;
    private protected readonly ILogger _logger;
    private protected FileDescriptor? _socket;
    private readonly KeventHandler _onReadable;
    private readonly KeventHandler _onWritable;
    private bool _readRegistered;
    private bool _readEnabled;
    private bool _writeRegistered;
    private LoopTimer _timer;
    private long _timerDueNs;
    private long _lastActivityNs;
    private long _lastInputNs;
    private CancellationTokenSource? _closedSource;
    private EndPoint? _localEndPoint;
    private EndPoint? _remoteEndPoint;

    // The server's intrusive list of live connections (no allocation per connection).
    internal SocketServer? Server;
    internal Connection? PreviousLive;
    internal Connection? NextLive;

    private protected Connection(EventLoop loop, FileDescriptor socket, ConnectionOptions options, SocketServer? server)
    {
        _loop = loop;
        _socket = socket;
        _options = options;
        Server = server;
        _logger = server?.Logger ?? loop.LoggerFactory.CreateLogger("Kevents.Net");
        Id = Interlocked.Increment(ref s_nextId);
        _onReadable = OnReadable;
        _onWritable = OnWritable;
    }

    /// <summary>Bytes read from the socket so far.</summary>
    public long BytesRead { get; private protected set; }

    /// <summary>Bytes the kernel accepted for sending so far.</summary>
    public long BytesWritten { get; private protected set; }

    /// <summary>A process-wide unique number for logs.</summary>
    public long Id { get; }

    /// <summary>The loop this connection lives on.</summary>
    public EventLoop Loop => _loop;

    /// <summary>True once the connection is closed; nothing can be read or written any more.</summary>
    public bool IsClosed => _socket is null;

    /// <summary>The local address, read once from the socket (null if it cannot be read).</summary>
    public EndPoint? LocalEndPoint => _localEndPoint ??= _socket is null ? null : NativeSocket.GetLocalEndPoint(_socket.Fd);

    /// <summary>The peer's address, read once from the socket (null for an unnamed Unix peer).</summary>
    public EndPoint? RemoteEndPoint => _remoteEndPoint ??= _socket is null ? null : NativeSocket.GetRemoteEndPoint(_socket.Fd);

    /// <summary>
    /// Cancelled once, after the connection has closed, on the loop thread. Created on first use: a connection
    /// that never asks for it pays nothing.
    /// </summary>
    public CancellationToken ConnectionClosed
    {
        get
        {
            if (_closedSource is null)
            {
                _closedSource = new CancellationTokenSource();
                if (IsClosed)
                {
                    _closedSource.Cancel();
                }
            }
            return _closedSource.Token;
        }
    }

    /// <summary>The connection's descriptor number while it is open (-1 after close).</summary>
    public int Descriptor => _socket?.Fd ?? -1;

    /// <summary>Closes gracefully: output already queued is sent, then the socket is closed. Loop thread only.</summary>
    public abstract void Close();

    /// <summary>
    /// Closes at once, discarding queued output; the peer sees a reset. Safe from any thread (posts itself to the
    /// loop when called elsewhere).
    /// </summary>
    public void Abort(string? reason = null)
    {
        if (!_loop.IsOnLoopThread && _loop.IsRunning)
        {
            _loop.Post(static s =>
            {
                var (connection, why) = ((Connection, string?))s!;
                connection.Abort(why);
            }, (this, reason));
            return;
        }
        if (!IsClosed)
        {
            CloseSocket(new ConnectionAbortedException(reason ?? $"Connection {Id} was aborted."), reset: true);
        }
    }

    /// <summary>Starts watching the socket: called once the connection is set up, on the loop thread.</summary>
    private protected void Start()
    {
        _lastActivityNs = _lastInputNs = _loop.NowNanoseconds;
        long due = Math.Min(Durations.After(_lastActivityNs, _options.IdleTimeoutNs), Durations.After(_lastInputNs, _options.InputIdleTimeoutNs));
        if (due != Durations.Never)
        {
            ArmTimer(due);
        }
        _loop.Register(Kevent.Read(_socket!.Fd), _onReadable);
        _readRegistered = true;
        _readEnabled = true;
    }

    /// <summary>Notes traffic for the idle timeout: one store, no timer work (the timer checks it when it fires).</summary>
    private protected void MarkActive() => _lastActivityNs = _loop.NowNanoseconds;

    /// <summary>Notes input: activity for both idle timeouts.</summary>
    private protected void MarkInput() => _lastActivityNs = _lastInputNs = _loop.NowNanoseconds;

    private protected void PauseReading()
    {
        if (_readRegistered && _readEnabled)
        {
            _readEnabled = false;
            _loop.Disable((ulong)_socket!.Fd, KeventFilter.Read);
        }
    }

    private protected void ResumeReading()
    {
        if (_readRegistered && !_readEnabled && _socket is not null)
        {
            _readEnabled = true;
            _loop.Enable((ulong)_socket.Fd, KeventFilter.Read);
        }
    }

    private protected void StopReading()
    {
        if (_readRegistered && _socket is not null)
        {
            _readRegistered = false;
            _readEnabled = false;
            _loop.Unregister((ulong)_socket.Fd, KeventFilter.Read);
        }
    }

    private protected void WatchWritable(bool watch)
    {
        if (watch == _writeRegistered || _socket is null)
        {
            return;
        }
        _writeRegistered = watch;
        if (watch)
        {
            _loop.Register(Kevent.Write(_socket.Fd), _onWritable);
        }
        else
        {
            _loop.Unregister((ulong)_socket.Fd, KeventFilter.Write);
        }
    }

    /// <summary>Server shutdown asks the connection to finish: stop taking input and close once output is sent.</summary>
    internal abstract void RequestShutdown();

    private protected abstract void OnReadable(in Kevent ev);

    private protected abstract void OnWritable(in Kevent ev);

    /// <summary>Called once from <see cref="CloseSocket"/> after the descriptor is closed, to complete pipes and tell the application.</summary>
    private protected abstract void OnClosed(Exception? error);

    /// <summary>
    /// Closes the socket exactly once: stops the timer, unregisters both filters (so no handler runs after this),
    /// closes the descriptor, leaves the server's list, then tells the subclass and the ConnectionClosed token.
    /// </summary>
    private protected void CloseSocket(Exception? error, bool reset = false)
    {
        FileDescriptor? socket = _socket;
        if (socket is null)
        {
            return;
        }
        _loop.StopTimer(ref _timer);
        if (_readRegistered)
        {
            _loop.Unregister((ulong)socket.Fd, KeventFilter.Read);
            _readRegistered = false;
        }
        if (_writeRegistered)
        {
            _loop.Unregister((ulong)socket.Fd, KeventFilter.Write);
            _writeRegistered = false;
        }
        if (reset)
        {
            // SO_LINGER 0: close sends RST, so the peer learns at once that nothing more will come.
            NativeSocket.SetLinger(socket.Fd, on: true, seconds: 0);
        }
        _socket = null;
        socket.Dispose();
        Server?.OnConnectionClosed(this);
        if (error is ConnectionResetException)
        {
            NetLog.ConnectionReset(_logger, Id, error.Message);
        }
        OnClosed(error);
        if (_closedSource is { } source)
        {
            // Token callbacks are application code: run them as posted work, never inside our close path.
            _loop.Post(static s => ((CancellationTokenSource)s!).Cancel(), source);
        }
    }

    /// <summary>
    /// Makes the connection's one timer fire no later than <paramref name="dueNs"/> (loop clock). A timer already
    /// due by then is left alone, so calling this costs nothing in the common case; otherwise it is moved earlier.
    /// </summary>
    private void ArmTimer(long dueNs)
    {
        if (!_timer.IsNone && _timerDueNs <= dueNs)
        {
            return;
        }
        _loop.StopTimer(ref _timer);
        _timerDueNs = dueNs;
        _timer = _loop.StartTimer(Math.Max(0, dueNs - _loop.NowNanoseconds), this);
    }

    // One timer serves both idle timeouts and the response rate check. It is armed for whichever is due first and,
    // when it fires, re-armed for whatever is still pending; traffic only stores a timestamp (MarkActive, MarkInput).
    void ILoopTimerTarget.OnTimer()
    {
        _timer = default;
        if (IsClosed)
        {
            return;
        }
        long now = _loop.NowNanoseconds;
        long next = Durations.Never;
        // While queued output waits for a slow peer the rate check judges it: the kernel may show a steady reader's
        // progress only every few seconds, and the idle timeout would cut it off in between.
        if (!IsOutputJudgedByRate)
        {
            long idleDue = Durations.After(_lastActivityNs, _options.IdleTimeoutNs);
            if (now >= idleDue)
            {
                NetLog.IdleTimeout(_logger, Id, (now - _lastActivityNs) / 1_000_000);
                CloseSocket(new ConnectionAbortedException($"Connection {Id} was idle for {_options.IdleTimeout}."), reset: true);
                return;
            }
            // There was traffic since the timer was armed: the idle window now ends later.
            next = idleDue;
        }
        long inputDue = Durations.After(_lastInputNs, _options.InputIdleTimeoutNs);
        if (now >= inputDue && !_readEnabled)
        {
            // We are not reading (backpressure, PauseInput, or the peer's FIN ended its input): the silence is not the
            // peer's. Its clock starts again from now.
            _lastInputNs = now;
            inputDue = Durations.After(now, _options.InputIdleTimeoutNs);
        }
        if (now >= inputDue)
        {
            NetLog.InputIdleTimeout(_logger, Id, (now - _lastInputNs) / 1_000_000);
            CloseSocket(new ConnectionAbortedException($"Connection {Id} received nothing for {_options.InputIdleTimeout}."), reset: true);
            return;
        }
        next = Math.Min(next, inputDue);
        if (!CheckResponseRate(now))
        {
            return;
        }
        next = Math.Min(next, NextResponseRateCheckNs);
        if (next != Durations.Never)
        {
            ArmTimer(next);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"connection {Id} ({NetErrors.Describe(RemoteEndPoint ?? (EndPoint?)LocalEndPoint ?? new IPEndPoint(0, 0))})";
}
