using System.Net;
using System.Net.Sockets;
using Kevents;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace EchoServer;

/// <summary>
/// TCP echo on raw Read/Write kevents: the low-level way to use Kevents, with no pipes and no per-message
/// allocation. Each connection reads into one shared buffer and writes straight back; when the socket buffer is
/// full it keeps the unsent tail, stops reading and waits for a Write kevent (backpressure).
/// </summary>
internal sealed class RawEchoServer : IDisposable
{
    private const int AcceptsPerEvent = 16;
    private const ulong ResumeTimerIdent = 0x5241_5745; // "RAWE"
    private static readonly TimeSpan AcceptPause = TimeSpan.FromMilliseconds(500);

    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly Dictionary<int, Connection> _connections = new();
    private readonly KeventHandler _onReadable;
    private readonly KeventHandler _onWritable;
    private readonly KeventHandler _onResume;
    private FileDescriptor? _listener;
    private long _accepted;
    private bool _paused;
    private long _lastFailureLogNs = long.MinValue / 2;

    private sealed class Connection(FileDescriptor fd)
    {
        public FileDescriptor Fd { get; } = fd;
        public byte[]? Pending;
        public int PendingOffset;
        public int PendingCount;
    }

    public RawEchoServer(EventLoop loop, ILogger logger)
    {
        _loop = loop;
        _logger = logger;
        _onReadable = OnReadable;
        _onWritable = OnWritable;
        _onResume = OnResume;
    }

    public IPEndPoint? LocalEndPoint { get; private set; }

    public int ConnectionCount => _connections.Count;

    public long Accepted => _accepted;

    public void Start(IPEndPoint endPoint, int backlog = 511)
    {
        int rc = NativeSocket.Create(endPoint.AddressFamily, SocketType.Stream, out FileDescriptor? listener);
        Check(rc, "create the listening socket");
        _listener = listener!;
        NativeSocket.SetReuseAddress(_listener.Fd, true);
        rc = NativeSocket.Bind(_listener.Fd, endPoint);
        if (rc == -Errno.EADDRINUSE)
        {
            throw new IOException($"Cannot listen on {endPoint}: address already in use. Stop the other server or pick another --port.");
        }
        Check(rc, $"bind {endPoint}");
        Check(NativeSocket.Listen(_listener.Fd, backlog), "listen");
        LocalEndPoint = (IPEndPoint?)NativeSocket.GetLocalEndPoint(_listener.Fd);
        _loop.Register(Kevent.Read(_listener.Fd), OnAcceptable);
    }

    private void OnAcceptable(in Kevent ev)
    {
        for (int i = 0; i < AcceptsPerEvent; i++)
        {
            int fd = NativeSocket.Accept(_listener!.Fd);
            if (fd == -Errno.EAGAIN)
            {
                return;
            }
            if (fd < 0)
            {
                PauseAccepting(fd);
                return;
            }
            NativeSocket.SetNoDelay(fd, true);
            var connection = new Connection(new FileDescriptor(fd));
            _connections.Add(fd, connection);
            _accepted++;
            _loop.Register(Kevent.Read(fd, userData: (ulong)fd), _onReadable);
        }
    }

    /// <summary>
    /// A listener that cannot accept (EMFILE when descriptors run out, ENOBUFS, ENOMEM) stays readable while clients
    /// wait in its backlog: retrying at once would spin the loop. Stop watching it for a moment instead, and say so
    /// at most once a second.
    /// </summary>
    private void PauseAccepting(int error)
    {
        if (_paused)
        {
            return;
        }
        _paused = true;
        _loop.Disable((ulong)_listener!.Fd, KeventFilter.Read);
        _loop.Register(Kevent.Timer(ResumeTimerIdent, AcceptPause), _onResume);
        long now = _loop.NowNanoseconds;
        if (now - _lastFailureLogNs >= 1_000_000_000)
        {
            _lastFailureLogNs = now;
            _logger.LogWarning("accept failed: {Error}; pausing accepting for {PauseMs} ms", Errno.Describe(error), AcceptPause.TotalMilliseconds);
        }
    }

    private void OnResume(in Kevent ev)
    {
        _paused = false;
        if (_listener is not null)
        {
            _loop.Enable((ulong)_listener.Fd, KeventFilter.Read);
        }
    }

    private void OnReadable(in Kevent ev)
    {
        int fd = (int)ev.Ident;
        if (!_connections.TryGetValue(fd, out Connection? connection))
        {
            return;
        }
        long n = Io.Read(fd, _buffer);
        if (n == -Errno.EAGAIN)
        {
            return;
        }
        if (n <= 0)
        {
            Close(connection);
            return;
        }
        long sent = NativeSocket.Send(fd, _buffer.AsSpan(0, (int)n));
        if (sent == -Errno.EAGAIN)
        {
            sent = 0;
        }
        if (sent < 0)
        {
            Close(connection);
            return;
        }
        if (sent < n)
        {
            // The peer is not keeping up: hold the rest, stop reading, and resume when the socket drains.
            int rest = (int)(n - sent);
            connection.Pending ??= new byte[_buffer.Length];
            _buffer.AsSpan((int)sent, rest).CopyTo(connection.Pending);
            connection.PendingOffset = 0;
            connection.PendingCount = rest;
            _loop.Disable((ulong)fd, KeventFilter.Read);
            _loop.Register(Kevent.Write(fd, userData: (ulong)fd), _onWritable);
        }
    }

    private void OnWritable(in Kevent ev)
    {
        int fd = (int)ev.Ident;
        if (!_connections.TryGetValue(fd, out Connection? connection))
        {
            return;
        }
        long sent = NativeSocket.Send(fd, connection.Pending.AsSpan(connection.PendingOffset, connection.PendingCount));
        if (sent == -Errno.EAGAIN)
        {
            return;
        }
        if (sent < 0)
        {
            Close(connection);
            return;
        }
        connection.PendingOffset += (int)sent;
        connection.PendingCount -= (int)sent;
        if (connection.PendingCount == 0)
        {
            _loop.Unregister((ulong)fd, KeventFilter.Write);
            _loop.Enable((ulong)fd, KeventFilter.Read);
        }
    }

    private void Close(Connection connection)
    {
        int fd = connection.Fd.Fd;
        _loop.Unregister((ulong)fd, KeventFilter.Read);
        _loop.Unregister((ulong)fd, KeventFilter.Write);
        _connections.Remove(fd);
        connection.Fd.Dispose();
    }

    public void Dispose()
    {
        foreach (Connection connection in _connections.Values.ToArray())
        {
            Close(connection);
        }
        if (_paused)
        {
            _loop.Unregister(ResumeTimerIdent, KeventFilter.Timer);
        }
        if (_listener is not null)
        {
            _loop.Unregister((ulong)_listener.Fd, KeventFilter.Read);
            _listener.Dispose();
            _listener = null;
        }
    }

    private static void Check(int rc, string what)
    {
        if (rc < 0)
        {
            throw new IOException($"EchoServer could not {what}: {Errno.Describe(rc)}.");
        }
    }
}
