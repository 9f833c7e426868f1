using System.Net;
using Kevents.Native;
using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Net;

/// <summary>
/// A connected stream socket on a loop: TCP or Unix. Everything about it happens on its loop's thread; only
/// <see cref="Abort"/> may also be called from another thread, at any time (it posts itself to the loop, or closes the
/// socket itself once the loop is disposed).
/// </summary>
/// <remarks>
/// Lifecycle: open, then closed exactly once, by the peer (FIN then the application's close, or a reset), by the
/// application (<see cref="Close"/> or <see cref="Abort"/>), by the idle timeout, by the peer taking queued output
/// more slowly than <see cref="ConnectionOptions.MinResponseDataRate"/>, or by server shutdown. After it is closed
/// no handler of this connection runs, its descriptor is closed and its buffers are back in their pools.
/// A failure inside Kevents.Net while serving one connection aborts that connection (logged once, with its
/// <see cref="Id"/>); it never reaches the loop, the thread pool, or the other connections.
/// </remarks>
public abstract partial class Connection : ILoopTimerTarget
{
    private static long s_nextId;

    private protected readonly EventLoop _loop;
    private protected readonly ConnectionOptions _options;
    private protected readonly ILogger _logger;
    private protected FileDescriptor? _socket;
    private protected readonly NetLoop _net;
    private bool _readRegistered;
    private bool _readEnabled;
    private bool _writeRegistered;
    private LoopTimer _timer;
    private int _closeClaimed;
    private int _deferred;
    private bool _failureLogged;

    // The error epoll reported with the last readiness (-errno), kept because the loop's SO_ERROR read cleared it in
    // the socket: a read that then returns 0 is the end of a reset connection, not the peer's FIN.
    private protected int PeerError;
    private long _timerDueNs;
    private long _lastActivityNs;
    private long _lastInputNs;

    // What few connections use, kept apart so that an idle connection stays small (five references traded for one):
    // the ConnectionClosed token, the cached addresses, a close notification's error, a raw writable callback. Made
    // on first use, from any thread.
    private Extra? _extra;

    private Extra Extras
    {
        get
        {
            Extra? extra = Volatile.Read(ref _extra);
            if (extra is null)
            {
                Interlocked.CompareExchange(ref _extra, new Extra(), null);
                extra = _extra!;
            }
            return extra;
        }
    }

    private sealed class Extra
    {
        public CancellationTokenSource? ClosedSource;
        public EndPoint? LocalEndPoint;
        public EndPoint? RemoteEndPoint;
        public Exception? DeferredError;
        public Action<Connection>? WritableCallback;
    }

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
        NetBuffers.ConnectionOpened();
        _netMetrics = NetMetrics.For(loop);
        _netMetrics.Open++;
        // The loop's two shared handlers find this connection by its descriptor: no delegate per connection.
        _net = NetLoop.Of(loop);
    }

    /// <summary>Bytes read from the socket so far.</summary>
    public long BytesRead { get => _bytesRead; private protected set => CountRead(value); }

    /// <summary>Bytes the kernel accepted for sending so far.</summary>
    public long BytesWritten { get => _bytesWritten; private protected set => CountWritten(value); }

    /// <summary>A process-wide unique number for logs.</summary>
    public long Id { get; }

    /// <summary>The loop this connection lives on.</summary>
    public EventLoop Loop => _loop;

    /// <summary>True once the connection is closed; nothing can be read or written any more.</summary>
    public bool IsClosed => _socket is null;

    /// <summary>The local address, read once from the socket (null if it cannot be read).</summary>
    public EndPoint? LocalEndPoint => _extra?.LocalEndPoint ?? (_socket is null ? null : Extras.LocalEndPoint = NativeSocket.GetLocalEndPoint(_socket.Fd));

    /// <summary>The peer's address, read once from the socket (null for an unnamed Unix peer).</summary>
    public EndPoint? RemoteEndPoint => _extra?.RemoteEndPoint ?? (_socket is null ? null : Extras.RemoteEndPoint = NativeSocket.GetRemoteEndPoint(_socket.Fd));

    /// <summary>
    /// Cancelled once, after the connection has closed, on the loop thread. Created on first use: a connection
    /// that never asks for it pays nothing.
    /// </summary>
    public CancellationToken ConnectionClosed
    {
        get
        {
            Extra extra = Extras;
            if (extra.ClosedSource is null)
            {
                extra.ClosedSource = new CancellationTokenSource();
                if (IsClosed)
                {
                    extra.ClosedSource.Cancel();
                }
            }
            return extra.ClosedSource.Token;
        }
    }

    /// <summary>The connection's descriptor number while it is open (-1 after close).</summary>
    public int Descriptor => _socket?.Fd ?? -1;

    /// <summary>Closes gracefully: output already queued is sent, then the socket is closed. Loop thread only.</summary>
    public abstract void Close();

    /// <summary>
    /// Closes at once, discarding queued output; the peer sees a reset. Safe from any thread at any time: from another
    /// thread it posts itself to the loop, and once the loop is disposed it closes the socket itself, exactly once
    /// however many threads call it. It never runs application code before it returns: the application learns of the
    /// abort (pipes completed, <see cref="IStreamHandler.OnClosed"/>) in a later step on the loop, so aborting
    /// connections while iterating over them is safe.
    /// </summary>
    public void Abort(string? reason = null)
    {
        if (_loop.IsOnLoopThread)
        {
            AbortNow(reason, deferNotification: true);
            return;
        }
        if (IsClosed)
        {
            return;
        }
        try
        {
            // Also when the loop is between Poll calls or stopped: it aborts when it runs again (and a server closes
            // its connections if the loop is disposed first).
            _loop.Post(static s =>
            {
                var (connection, why) = ((Connection, string?))s!;
                connection.AbortNow(why, deferNotification: true);
            }, (this, reason));
            return;
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone and nothing will run posted work: close here.
        }
        CloseDetached(AbortedError(reason));
    }

    /// <summary>
    /// Closes the connection while its loop is being disposed (from Kevents.Net's loop feature, on the disposing
    /// thread): posted work would be dropped now, so the socket is closed here and the application told on the
    /// thread pool.
    /// </summary>
    internal void CloseForLoopDisposal() => CloseDetached(AbortedError("its loop was disposed"));

    /// <summary>Aborts on the loop thread; <paramref name="deferNotification"/> when called from application code.</summary>
    internal void AbortNow(string? reason, bool deferNotification)
    {
        if (!IsClosed)
        {
            CloseSocket(AbortedError(reason), reset: true, deferNotification);
        }
    }

    private ConnectionAbortedException AbortedError(string? reason) =>
        new(reason is null ? $"Connection {Id} was aborted." : $"Connection {Id} was aborted: {reason}.");

    /// <summary>
    /// Starts watching the socket: called once the connection is set up, on the loop thread. When the loop refuses
    /// (no room for another watch, say) the connection is closed at once, leaving the server's count, and false is
    /// returned: a connection nobody watches would otherwise stay open and counted until its idle timeout.
    /// </summary>
    private protected bool TryStart()
    {
        try
        {
            _lastActivityNs = _lastInputNs = _loop.NowNanoseconds;
            long due = Math.Min(Durations.After(_lastActivityNs, _options.IdleTimeoutNs), Durations.After(_lastInputNs, _options.InputIdleTimeoutNs));
            if (due != Durations.Never)
            {
                ArmTimer(due);
            }
            _net.Track(_socket!.Fd, this);
            _loop.Register(new Kevent((ulong)_socket.Fd, KeventFilter.Read, KeventFlags.None, ReadFilterFlags, 0, 0), _net.OnReadable);
            _readRegistered = true;
            _readEnabled = true;
            return true;
        }
        catch (Exception ex)
        {
            NetLog.ConnectionStartFailed(_logger, Id, ex.Message, ex);
            CloseSocket(new ConnectionAbortedException($"Connection {Id} was closed: it could not be watched ({ex.Message}).", ex), reset: true);
            return false;
        }
    }

    /// <summary>Notes traffic for the idle timeout: one store, no timer work (the timer checks it when it fires).</summary>
    private protected void MarkActive() => _lastActivityNs = _loop.NowNanoseconds;

    /// <summary>True while the Read filter is registered and enabled.</summary>
    private protected bool ReadingActive => _readRegistered && _readEnabled;

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
        if (watch)
        {
            // Marked only once the loop took it: a refused registration leaves nothing to unregister.
            _loop.Register(Kevent.Write(_socket.Fd), _net.OnWritable);
            _writeRegistered = true;
        }
        else
        {
            _writeRegistered = false;
            _loop.Unregister((ulong)_socket.Fd, KeventFilter.Write);
        }
    }

    /// <summary>Server shutdown asks the connection to finish: stop taking input and close once output is sent.</summary>
    internal abstract void RequestShutdown();

    private protected abstract void OnReadable(in Kevent ev);

    /// <summary>The Read registration's filter flags: a connection that takes bytes from the loop's ring says so here.</summary>
    private protected virtual uint ReadFilterFlags => 0;

    private protected abstract void OnWritable(in Kevent ev);

    /// <summary>Called once from <see cref="CloseSocket"/> after the descriptor is closed, to complete pipes and tell the application.</summary>
    private protected abstract void OnClosed(Exception? error);

    /// <summary>
    /// Closes the socket exactly once: stops the timer, unregisters both filters (so no handler runs after this),
    /// closes the descriptor, leaves the server's list, then tells the subclass and the ConnectionClosed token, at
    /// once or, with <paramref name="deferNotification"/> (a close the application asked for), as posted work so that
    /// application code never runs inside the application's own call. Loop thread only. Never throws.
    /// </summary>
    private protected void CloseSocket(Exception? error, bool reset = false, bool deferNotification = false)
    {
        FileDescriptor? socket = _socket;
        if (socket is null || Interlocked.Exchange(ref _closeClaimed, 1) != 0)
        {
            return;
        }
        LeaveLoop(socket.Fd, loopGone: false);
        _net.Untrack(socket.Fd, this);
        ReleaseSocket(socket, error, reset);
        if (deferNotification)
        {
            PostNotification(error);
        }
        else
        {
            NotifyClosed(error);
        }
    }

    /// <summary>
    /// The close path once the loop is disposed (or being disposed), from any thread: claims the close like
    /// <see cref="CloseSocket"/>, so two callers never both run it, and closes the descriptor here instead of leaving
    /// it to the finalizer. The application is told on a thread-pool thread, never inside the caller.
    /// </summary>
    private void CloseDetached(Exception error)
    {
        FileDescriptor? socket = _socket;
        if (socket is null || Interlocked.Exchange(ref _closeClaimed, 1) != 0)
        {
            return;
        }
        LeaveLoop(socket.Fd, loopGone: true);
        _net.Untrack(socket.Fd, this);
        ReleaseSocket(socket, error, reset: true);
        ThreadPool.UnsafeQueueUserWorkItem(static s =>
        {
            var (connection, why) = ((Connection, Exception))s!;
            connection.NotifyClosed(why, cancelInline: true);
        }, (this, error), preferLocal: false);
    }

    /// <summary>
    /// Stops the timer and unregisters both filters, each step on its own so one refusal does not leave the others
    /// behind. A loop being disposed still takes them (it disposes its features before it releases); a disposed one
    /// refuses, which is expected when <paramref name="loopGone"/>. Otherwise a refusal is logged: the descriptor is
    /// closed all the same.
    /// </summary>
    private void LeaveLoop(int fd, bool loopGone)
    {
        for (int step = 0; step < 3; step++)
        {
            try
            {
                switch (step)
                {
                    case 0:
                        _loop.StopTimer(ref _timer);
                        break;
                    case 1 when _readRegistered:
                        _readRegistered = false;
                        _loop.Unregister((ulong)fd, KeventFilter.Read);
                        break;
                    case 2 when _writeRegistered:
                        _writeRegistered = false;
                        _loop.Unregister((ulong)fd, KeventFilter.Write);
                        break;
                }
            }
            catch (Exception ex) when (loopGone && ex is ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            catch (Exception ex)
            {
                LogFailureOnce(ex);
            }
        }
    }

    private void ReleaseSocket(FileDescriptor socket, Exception? error, bool reset)
    {
        if (reset)
        {
            // SO_LINGER 0: close sends RST, so the peer learns at once that nothing more will come.
            NativeSocket.SetLinger(socket.Fd, on: true, seconds: 0);
        }
        _socket = null;
        socket.Dispose();
        NetBuffers.ConnectionClosed();
        _netMetrics.Open--;
        try
        {
            Server?.OnConnectionClosed(this);
        }
        catch (Exception ex)
        {
            LogFailureOnce(ex);
        }
        if (error is ConnectionResetException)
        {
            NetLog.ConnectionReset(_logger, Id, error.Message);
        }
    }

    private void PostNotification(Exception? error) => Defer(DeferredNotify, error);

    private const int DeferredNotify = 1;
    private const int DeferredCancel = 2;

    /// <summary>
    /// Runs <paramref name="what"/> (the close notification, or only the ConnectionClosed cancellation) as posted work,
    /// outside the caller's code. Registered with the loop's <see cref="DeferredCloses"/> meanwhile: a loop disposed
    /// before it runs the item delivers it while disposing its features instead of dropping it.
    /// </summary>
    private void Defer(int what, Exception? error)
    {
        if (error is not null || _extra is not null)
        {
            Extras.DeferredError = error;
        }
        Volatile.Write(ref _deferred, what);
        try
        {
            DeferredCloses.For(_loop).Add(this);
            _loop.Post(static s => ((Connection)s!).RunDeferredClose(), this);
        }
        catch (ObjectDisposedException)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => ((Connection)s!).RunDeferredClose(), this, preferLocal: false);
        }
    }

    /// <summary>Delivers what <see cref="Defer"/> queued, once, whichever of the posted item or the loop's disposal comes first.</summary>
    internal void RunDeferredClose()
    {
        int what = Interlocked.Exchange(ref _deferred, 0);
        if (what == 0)
        {
            return;
        }
        DeferredCloses.Find(_loop)?.Remove(this);
        if (what == DeferredNotify)
        {
            // Already outside the close path: the token's callbacks may run here too.
            NotifyClosed(_extra?.DeferredError, cancelInline: true);
        }
        else
        {
            CancelClosedToken();
        }
    }

    private void NotifyClosed(Exception? error, bool cancelInline = false)
    {
        try
        {
            OnClosed(error);
        }
        catch (ObjectDisposedException) when (!_loop.IsRunning)
        {
            // A pipe continuation had nowhere to go: its loop is gone, and nothing could run it any more.
        }
        catch (Exception ex)
        {
            LogFailureOnce(ex);
        }
        if (_extra?.ClosedSource is null)
        {
            return;
        }
        if (!cancelInline)
        {
            // Token callbacks are application code: run them as posted work, never inside our close path.
            Defer(DeferredCancel, null);
            return;
        }
        CancelClosedToken();
    }

    private void CancelClosedToken()
    {
        if (_extra?.ClosedSource is not { } source)
        {
            return;
        }
        try
        {
            source.Cancel();
        }
        catch (AggregateException ex)
        {
            NetLog.ApplicationFailed(_logger, Id, ex);
        }
    }

    /// <summary>
    /// Kevents.Net itself failed while serving this connection (a bug, or a system call that cannot fail in practice):
    /// the connection is aborted and the failure logged once, and nothing reaches the loop or the thread pool.
    /// </summary>
    private protected void OnInternalFailure(Exception error)
    {
        try
        {
            LogFailureOnce(error);
            if (!IsClosed)
            {
                CloseSocket(new ConnectionAbortedException($"Connection {Id} was aborted: Kevents.Net failed while serving it ({error.Message}).", error), reset: true);
            }
        }
        catch (Exception)
        {
            // CloseSocket never throws; this only guards the logger.
        }
    }

    private void LogFailureOnce(Exception error)
    {
        if (!_failureLogged)
        {
            _failureLogged = true;
            NetLog.ConnectionFailed(_logger, Id, error);
        }
    }

    /// <summary>
    /// Debug builds: throws when a member that belongs to the connection's loop is called from another thread. A
    /// connection lives on one loop for life (in a group too), and its state (buffers, the loop's read buffer and
    /// timers) is that loop's alone; a call from another loop would race the loop's own handlers without a sign. The
    /// check costs a thread-id comparison, and Release builds leave it out.
    /// </summary>
    [System.Diagnostics.Conditional("DEBUG")]
    private protected void AssertOwnLoop([System.Runtime.CompilerServices.CallerMemberName] string member = "")
    {
        if (_loop.IsRunning && !_loop.IsOnLoopThread)
        {
            throw new InvalidOperationException(
                $"{GetType().Name}.{member} was called on thread {Environment.CurrentManagedThreadId}, but connection {Id} lives on loop '{_loop.Name}' for its whole life and may be used only on that loop's thread. Use connection.Loop.Post(...) to make the call there.");
        }
    }

    internal void OnReadableGuarded(in Kevent ev)
    {
        try
        {
            if (ev.IsError && PeerError == 0)
            {
                PeerError = (int)ev.Data;
            }
            OnReadable(ev);
        }
        catch (Exception ex)
        {
            OnInternalFailure(ex);
        }
    }

    internal void OnWritableGuarded(in Kevent ev)
    {
        if (_rawWritablePending)
        {
            OnRawWritable(ev);
            return;
        }
        try
        {
            OnWritable(ev);
        }
        catch (Exception ex)
        {
            OnInternalFailure(ex);
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
        try
        {
            OnTimerCore();
        }
        catch (Exception ex)
        {
            OnInternalFailure(ex);
        }
    }

    private void OnTimerCore()
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
