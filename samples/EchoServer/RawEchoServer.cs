using System.Net;
using System.Net.Sockets;
using Kevents;
using Microsoft.Extensions.Logging;

namespace EchoServer;

/// <summary>
/// TCP echo on raw Read/Write kevents: the low-level way to use Kevents, with no pipes and no per-message
/// allocation. Each connection reads into one shared buffer and writes straight back; when the socket buffer is
/// full it keeps the unsent tail, stops reading and waits for a Write kevent (backpressure).
/// </summary>
/// <remarks>
/// The sockets are plain <see cref="Socket"/>s in non-blocking mode; the loop only watches their descriptors
/// (<c>Kevent.Read((int)socket.Handle)</c>). Receive and Send use the overloads that report
/// <see cref="SocketError.WouldBlock"/> as a value, so "not ready" is an ordinary outcome, never an exception.
/// No Socket async method is ever called on them: those would hand the descriptor to .NET's own event loop.
/// </remarks>
internal sealed class RawEchoServer : IDisposable
{
    private const ulong ResumeTimerIdent = 0x5241_5745; // "RAWE"
    private static readonly TimeSpan AcceptPause = TimeSpan.FromMilliseconds(500);

    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly Dictionary<int, Connection> _connections = new();
    private readonly KeventHandler _onReadable;
    private readonly KeventHandler _onWritable;
    private readonly KeventHandler _onResume;
    private Socket? _listener;
    private int _listenerFd = -1;
    private long _accepted;
    private bool _paused;
    private long _lastFailureLogNs = long.MinValue / 2;

    private sealed class Connection(Socket socket)
    {
        public Socket Socket { get; } = socket;
        public int Fd { get; } = (int)socket.Handle;
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
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endPoint);
            listener.Listen(backlog);
            listener.Blocking = false;
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            if (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"Cannot listen on {endPoint}: address already in use. Stop the other server or pick another --port.", ex);
            }
            throw new IOException($"EchoServer could not listen on {endPoint}: {ex.Message}.", ex);
        }
        _listener = listener;
        _listenerFd = (int)listener.Handle;
        LocalEndPoint = (IPEndPoint?)listener.LocalEndPoint;
        // Level-triggered (the default): while clients wait in the backlog the kevent comes back every turn, so one
        // accept per kevent drains the backlog without ever calling accept on an empty one, which would throw.
        _loop.Register(Kevent.Read(_listenerFd), OnAcceptable);
    }

    private void OnAcceptable(in Kevent ev)
    {
        Socket client;
        try
        {
            client = _listener!.Accept();
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.WouldBlock)
        {
            // The client went away between the kevent and the accept: nothing waits.
            return;
        }
        catch (SocketException ex)
        {
            PauseAccepting(ex);
            return;
        }
        client.Blocking = false;
        client.NoDelay = true;
        var connection = new Connection(client);
        _connections.Add(connection.Fd, connection);
        _accepted++;
        _loop.Register(Kevent.Read(connection.Fd, userData: (ulong)connection.Fd), _onReadable);
    }

    /// <summary>
    /// A listener that cannot accept (EMFILE when descriptors run out, ENOBUFS, ENOMEM) stays readable while clients
    /// wait in its backlog: retrying at once would spin the loop. Stop watching it for a moment instead, and say so
    /// at most once a second.
    /// </summary>
    private void PauseAccepting(SocketException error)
    {
        if (_paused)
        {
            return;
        }
        _paused = true;
        _loop.Disable((ulong)_listenerFd, KeventFilter.Read);
        _loop.Register(Kevent.Timer(ResumeTimerIdent, AcceptPause), _onResume);
        long now = _loop.NowNanoseconds;
        if (now - _lastFailureLogNs >= 1_000_000_000)
        {
            _lastFailureLogNs = now;
            _logger.LogWarning("accept failed: {Error}; pausing accepting for {PauseMs} ms", $"{error.SocketErrorCode} ({error.Message})", AcceptPause.TotalMilliseconds);
        }
    }

    private void OnResume(in Kevent ev)
    {
        _paused = false;
        if (_listener is not null)
        {
            _loop.Enable((ulong)_listenerFd, KeventFilter.Read);
        }
    }

    private void OnReadable(in Kevent ev)
    {
        int fd = (int)ev.Ident;
        if (!_connections.TryGetValue(fd, out Connection? connection))
        {
            return;
        }
        int n = connection.Socket.Receive(_buffer, SocketFlags.None, out SocketError error);
        if (error == SocketError.WouldBlock)
        {
            return;
        }
        if (error != SocketError.Success || n == 0)
        {
            // 0 bytes: the peer closed its side. Anything else (a reset) ends the connection too.
            Close(connection);
            return;
        }
        int sent = connection.Socket.Send(_buffer.AsSpan(0, n), SocketFlags.None, out error);
        if (error == SocketError.WouldBlock)
        {
            sent = 0;
        }
        else if (error != SocketError.Success)
        {
            Close(connection);
            return;
        }
        if (sent < n)
        {
            // The peer is not keeping up: hold the rest, stop reading, and resume when the socket drains.
            int rest = n - sent;
            connection.Pending ??= new byte[_buffer.Length];
            _buffer.AsSpan(sent, rest).CopyTo(connection.Pending);
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
        int sent = connection.Socket.Send(connection.Pending.AsSpan(connection.PendingOffset, connection.PendingCount), SocketFlags.None, out SocketError error);
        if (error == SocketError.WouldBlock)
        {
            return;
        }
        if (error != SocketError.Success)
        {
            Close(connection);
            return;
        }
        connection.PendingOffset += sent;
        connection.PendingCount -= sent;
        if (connection.PendingCount == 0)
        {
            _loop.Unregister((ulong)fd, KeventFilter.Write);
            _loop.Enable((ulong)fd, KeventFilter.Read);
        }
    }

    private void Close(Connection connection)
    {
        // Unregister before closing: once closed, the number may be handed to the next accepted socket.
        int fd = connection.Fd;
        _loop.Unregister((ulong)fd, KeventFilter.Read);
        _loop.Unregister((ulong)fd, KeventFilter.Write);
        _connections.Remove(fd);
        connection.Socket.Dispose();
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
            _loop.Unregister((ulong)_listenerFd, KeventFilter.Read);
            _listener.Dispose();
            _listener = null;
        }
    }
}
