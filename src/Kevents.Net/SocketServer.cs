using System.Net;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Net;

/// <summary>
/// A listening TCP or Unix socket on a loop and the connections it accepted. Create one with
/// <see cref="EventLoopNetExtensions.ListenTcp(EventLoop, IPEndPoint, Func{PipeConnection, Task}, ServerOptions?)"/>
/// or its siblings. Loop thread only, except <see cref="ShutdownAsync"/> and <see cref="Dispose"/>, which post
/// themselves to the loop when called elsewhere.
/// </summary>
public sealed partial class SocketServer : IDisposable
{
    private readonly EventLoop _loop;
    private readonly ServerOptions _options;
    private readonly Func<PipeConnection, Task>? _pipeApplication;
    private readonly IStreamHandler? _streamHandler;
    private readonly ReadBuffer _readBuffer;
    private readonly int _maxConnections;
    private readonly bool _isTcp;
    private readonly string? _unixPath;
    private readonly GroupRole _role;
    private FileDescriptor? _listener;
    private bool _stopped;
    private Connection? _firstLive;
    private int _connectionCount;
    private TaskCompletionSource? _drained;

    internal SocketServer(EventLoop loop, EndPoint endPoint, ServerOptions options, Func<PipeConnection, Task>? pipeApplication, IStreamHandler? streamHandler)
        : this(loop, endPoint, options, pipeApplication, streamHandler, GroupRole.Alone)
    {
    }

    /// <summary>A server in a listener group (<see cref="SocketServerGroup"/>); <paramref name="role"/> says which part it plays.</summary>
    internal SocketServer(EventLoop loop, EndPoint endPoint, ServerOptions options, Func<PipeConnection, Task>? pipeApplication, IStreamHandler? streamHandler,
        GroupRole role)
    {
        _loop = loop;
        _role = role;
        _options = options.Validate();
        _pipeApplication = pipeApplication;
        _streamHandler = streamHandler;
        _readBuffer = ReadBuffer.For(loop);
        _maxConnections = options.EffectiveMaxConnections;
        Logger = loop.LoggerFactory.CreateLogger("Kevents.Net");
        _isTcp = endPoint is IPEndPoint;
        _unixPath = (endPoint as UnixDomainSocketEndPoint)?.ToString();
        _onAcceptable = OnAcceptable;
        if (role == GroupRole.Adopter)
        {
            // No socket of its own: the group's acceptor hands it connections (Adopt).
            LocalEndPoint = endPoint;
        }
        else
        {
            _listener = OpenListener(endPoint, options, role);
            LocalEndPoint = NativeSocket.GetLocalEndPoint(_listener.Fd) ?? endPoint;
            _spare = OpenSpare();
            // On io_uring (5.19+) the ring accepts for us (multishot accept); elsewhere this is a readiness registration.
            _loop.Register(new Kevent((ulong)_listener.Fd, KeventFilter.Read, KeventFlags.None, _loop.AcceptInRingIfSupported, 0, 0), _onAcceptable);
            NetLog.Listening(Logger, NetErrors.Describe(LocalEndPoint));
        }
        CreateMetrics();
        // A loop disposed under a live server must not leave sockets to the finalizer.
        NetLoop.Of(_loop).AddServer(this);
    }

    internal ILogger Logger { get; }

    /// <summary>The loop this server and its connections live on.</summary>
    internal EventLoop Loop => _loop;

    /// <summary>The address the server listens on (with the real port when bound to port 0).</summary>
    public EndPoint LocalEndPoint { get; }

    /// <summary>Live connections.</summary>
    public int ConnectionCount => _connectionCount;

    /// <summary>The connection limit in force: <see cref="ServerOptions.MaxConnections"/>, capped at RLIMIT_NOFILE - 32.</summary>
    public int MaxConnections => _maxConnections;

    /// <summary>Connections accepted and served since the server started.</summary>
    public long TotalAccepted { get => _totalAccepted; private set => CountAccepted(value); }

    /// <summary>Connections refused (accepted and closed at once) because the limit was reached.</summary>
    public long TotalRejected { get => _totalRejected; private set => CountRejected(value); }

    /// <summary>True while the server accepts new connections.</summary>
    public bool IsListening => _listener is not null || (_role == GroupRole.Adopter && !_stopped);

    /// <summary>
    /// Stops accepting at once, asks every connection to finish (stream handlers' connections close once their output
    /// is sent; pipe connections complete their input so the application sees the end), and aborts whatever is still
    /// open at the deadline. The task completes when no connection is left. Safe from any thread.
    /// </summary>
    /// <param name="drainTimeout">
    /// How long connections may take to finish before they are aborted: default 30 s; <see cref="TimeSpan.Zero"/>
    /// aborts whatever is still open at once; <see cref="Timeout.InfiniteTimeSpan"/> (or any duration too long to
    /// end) never aborts them.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="drainTimeout"/> is negative (other than infinite).</exception>
    public Task ShutdownAsync(TimeSpan? drainTimeout = null)
    {
        TimeSpan deadline = drainTimeout ?? TimeSpan.FromSeconds(30);
        if (deadline < TimeSpan.Zero && deadline != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), deadline,
                "The drain timeout of ShutdownAsync must be zero or positive, or Timeout.InfiniteTimeSpan to wait for connections to finish however long they take.");
        }
        if (!_loop.IsOnLoopThread && _loop.IsRunning)
        {
            var posted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _loop.Post(() => ShutdownAsync(deadline).ContinueWith(t => posted.TrySetResult(), TaskScheduler.Default));
            return posted.Task;
        }
        StopListening();
        _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_connectionCount == 0)
        {
            _drained.TrySetResult();
            return _drained.Task;
        }
        for (Connection? c = _firstLive; c is not null;)
        {
            Connection next = c.NextLive!;
            c.RequestShutdown();
            c = next;
        }
        long deadlineNs = Durations.ToNanoseconds(deadline);
        if (_connectionCount > 0 && deadlineNs != Durations.Never)
        {
            _loop.StartTimer(deadlineNs, new DeadlineTimer(this));
        }
        else if (_connectionCount == 0)
        {
            _drained.TrySetResult();
        }
        return _drained.Task;
    }

    private sealed class DeadlineTimer(SocketServer server) : ILoopTimerTarget
    {
        public void OnTimer() => server.AbortAll(deadline: true);
    }

    /// <summary>
    /// Stops listening and aborts every connection now. Safe from any thread, also after the loop stopped or was
    /// disposed. The applications hear of the aborts after this call returns, never inside it.
    /// </summary>
    public void Dispose()
    {
        if (!_loop.IsOnLoopThread && _loop.IsRunning)
        {
            try
            {
                _loop.Post(Dispose);
                return;
            }
            catch (ObjectDisposedException)
            {
            }
        }
        StopListening();
        AbortAll(deadline: false);
        _spare?.Dispose();
        _spare = null;
        DisposeMetrics();
    }

    /// <summary>Called by <see cref="NetLoop"/> when the loop is disposed.</summary>
    internal void CloseForLoopDisposal()
    {
        // The loop has stopped and is about to drop its posted work: close everything here, on the disposing thread.
        for (Connection? c = _firstLive; c is not null;)
        {
            Connection? next = c.NextLive;
            c.CloseForLoopDisposal();
            c = next;
        }
        if (!_stopped)
        {
            Dispose();
            return;
        }
        // Stopped by a shutdown, but a Dispose posted from another thread may be among the work the loop drops: the
        // spare descriptor would be left to the finalizer. Close it here.
        _spare?.Dispose();
        _spare = null;
    }

    private void AbortAll(bool deadline)
    {
        if (deadline && _connectionCount > 0)
        {
            NetLog.ShutdownDeadline(Logger, NetErrors.Describe(LocalEndPoint), _connectionCount);
        }
        string reason = deadline ? "the server's shutdown deadline passed" : "the server was disposed";
        bool onLoop = _loop.IsOnLoopThread;
        for (Connection? c = _firstLive; c is not null;)
        {
            Connection? next = c.NextLive;
            if (onLoop)
            {
                // Deferred: Dispose may be called from application code, which must not be re-entered here.
                c.AbortNow(reason, deferNotification: true);
            }
            else
            {
                c.Abort(reason);
            }
            c = next;
        }
    }

    private void StopListening()
    {
        if (!_stopped)
        {
            _stopped = true;
            // Connections handed over but not adopted yet are closed: nobody would serve them.
            _inbox?.Close();
        }
        if (_listener is null)
        {
            return;
        }
        try
        {
            _loop.StopTimer(ref _resumeTimer);
            // On io_uring this also cancels the multishot accept; the loop closes whatever it accepts meanwhile.
            _loop.Unregister((ulong)_listener.Fd, KeventFilter.Read);
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone; the listener is closed below all the same.
        }
        _listener.Dispose();
        _listener = null;
        CloseDeferredAccepts();
        if (_unixPath is not null)
        {
            // A Unix listener leaves its socket file behind; remove it so the path can be bound again.
            try
            {
                File.Delete(_unixPath);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    internal void OnConnectionClosed(Connection connection)
    {
        if (connection.PreviousLive is null)
        {
            _firstLive = connection.NextLive;
        }
        else
        {
            connection.PreviousLive.NextLive = connection.NextLive;
        }
        if (connection.NextLive is not null)
        {
            connection.NextLive.PreviousLive = connection.PreviousLive;
        }
        connection.PreviousLive = connection.NextLive = null;
        connection.Server = null;
        _connectionCount--;
        Load?.Release(LoadIndex);
        if (_connectionCount == 0 && _drained is not null)
        {
            _drained.TrySetResult();
        }
    }

    private void Track(Connection connection)
    {
        connection.NextLive = _firstLive;
        if (_firstLive is not null)
        {
            _firstLive.PreviousLive = connection;
        }
        _firstLive = connection;
        _connectionCount++;
        TotalAccepted++;
    }

    private static FileDescriptor OpenListener(EndPoint endPoint, ServerOptions options, GroupRole role)
    {
        int rc = NativeSocket.Create(endPoint.AddressFamily, SocketType.Stream, out FileDescriptor? listener);
        if (rc < 0)
        {
            throw NetErrors.ToSocketException(rc, $"Cannot create a socket to listen on {NetErrors.Describe(endPoint)}");
        }
        try
        {
            if (endPoint is IPEndPoint)
            {
                if (options.ReuseAddress)
                {
                    NativeSocket.SetReuseAddress(listener!.Fd, true);
                }
                if (options.ReusePort || role is GroupRole.ReusePort or GroupRole.ReusePortCpu)
                {
                    NativeSocket.SetReusePort(listener!.Fd, true);
                }
            }
            rc = NativeSocket.Bind(listener!.Fd, endPoint);
            if (rc == -Errno.EADDRINUSE)
            {
                throw NetErrors.ToSocketException(rc, $"Cannot listen on {NetErrors.Describe(endPoint)}: address already in use (another server holds it; stop it or choose another port)");
            }
            if (rc < 0)
            {
                throw NetErrors.ToSocketException(rc, $"Cannot bind {NetErrors.Describe(endPoint)}");
            }
            rc = NativeSocket.Listen(listener.Fd, options.Backlog);
            if (rc < 0)
            {
                throw NetErrors.ToSocketException(rc, $"Cannot listen on {NetErrors.Describe(endPoint)}");
            }
            if (role == GroupRole.ReusePortCpu)
            {
                // One program serves the port's whole reuseport group; the group attaches it with its first listener.
                rc = NativeSocket.AttachReusePortCpuProgram(listener.Fd);
                if (rc < 0)
                {
                    throw NetErrors.ToSocketException(rc, $"Cannot attach the CPU-local reuseport program (SO_ATTACH_REUSEPORT_CBPF) to {NetErrors.Describe(endPoint)}; use LoopDistribution.ReusePort instead");
                }
            }
            return listener;
        }
        catch
        {
            listener!.Dispose();
            throw;
        }
    }
}
