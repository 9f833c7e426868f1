namespace Kevents.Net.Internal;

/// <summary>
/// Kevents.Net's state for one loop, kept as the loop's feature (<see cref="EventLoop.GetOrAddFeature{T}"/>): the
/// buffer stream connections read into, the connections whose close notification waits in posted work, and the
/// servers to close when the loop is disposed.
/// </summary>
/// <remarks>
/// The loop disposes its features after it stops and before it drops its unrun posted work, which is the moment both
/// jobs need: servers close their connections on the disposing thread rather than leave sockets to the finalizer,
/// then every close notification still waiting is delivered, so an application always hears that its connection
/// closed and its pipes complete. Servers go first because closing their connections may defer more notifications.
/// </remarks>
internal sealed class NetLoop : IDisposable
{
    private readonly List<SocketServer> _servers = [];
    private bool _disposed;

    private readonly EventLoop _loop;

    // The loop's connections by descriptor, so that two handlers per loop serve them all: a delegate per connection
    // and filter would cost an idle connection 128 bytes, a slot here costs 8. Loop thread only (and the disposing
    // thread once the loop has stopped).
    private Connection?[] _byFd = new Connection?[64];

    private NetLoop(EventLoop loop)
    {
        _loop = loop;
        PipeSends = new PipeSendScheduler(loop);
        OnReadable = DispatchReadable;
        OnWritable = DispatchWritable;
    }

    /// <summary>The Read handler of every connection on this loop.</summary>
    public KeventHandler OnReadable { get; }

    /// <summary>The Write handler of every connection on this loop.</summary>
    public KeventHandler OnWritable { get; }

    /// <summary>Makes <paramref name="connection"/> the one the shared handlers serve for <paramref name="fd"/>.</summary>
    public void Track(int fd, Connection connection)
    {
        if (fd >= _byFd.Length)
        {
            Array.Resize(ref _byFd, Math.Max(fd + 1, _byFd.Length * 2));
        }
        _byFd[fd] = connection;
    }

    /// <summary>Forgets <paramref name="connection"/>'s descriptor (before it is closed and can be reused).</summary>
    public void Untrack(int fd, Connection connection)
    {
        Connection?[] byFd = _byFd;
        if ((uint)fd < (uint)byFd.Length && byFd[fd] == connection)
        {
            byFd[fd] = null;
        }
    }

    /// <summary>Whether the shared handlers still reach <paramref name="connection"/> (tests: not once it closed).</summary>
    public bool Tracks(Connection connection) => Array.IndexOf(_byFd, connection) >= 0;

    // A kevent for a descriptor nobody tracks cannot come (the filters are unregistered before untracking), but a
    // stale one is dropped rather than trusted.
    private Connection? Find(in Kevent ev)
    {
        Connection?[] byFd = _byFd;
        return ev.Ident < (ulong)byFd.Length ? byFd[(int)ev.Ident] : null;
    }

    private void DispatchReadable(in Kevent ev) => Find(ev)?.OnReadableGuarded(ev);

    private void DispatchWritable(in Kevent ev) => Find(ev)?.OnWritableGuarded(ev);

    public ReadBuffer ReadBuffer { get; } = new(64 * 1024);

    public DeferredCloses DeferredCloses { get; } = new();

    /// <summary>The output pipes' reader scheduler: sends in the turn of the application's write.</summary>
    public PipeSendScheduler PipeSends { get; }

    /// <summary>The pipe connections' segments, taken when bytes arrive and given back when they are consumed.</summary>
    public PipePools PipePools => PipeSends.Pools;

    /// <summary>The loop's Net state, created on first use. Any thread.</summary>
    /// <exception cref="ObjectDisposedException">The loop was disposed before Net first used it.</exception>
    public static NetLoop Of(EventLoop loop) => loop.GetOrAddFeature(static l => new NetLoop(l));

    /// <summary>The loop's Net state if Net used the loop, else null. Any thread, also after the loop was disposed.</summary>
    public static NetLoop? Find(EventLoop loop) => loop.TryGetFeature(out NetLoop? net) ? net : null;

    /// <summary>
    /// Closes <paramref name="server"/> when the loop is disposed. A server stays listed for the loop's life (as a
    /// disposed one may still hold connections whose notifications are deferred); servers are few per loop.
    /// </summary>
    public void AddServer(SocketServer server)
    {
        lock (_servers)
        {
            _servers.Add(server);
        }
    }

    public void Dispose()
    {
        SocketServer[] servers;
        lock (_servers)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            servers = [.. _servers];
            _servers.Clear();
        }
        foreach (SocketServer server in servers)
        {
            server.CloseForLoopDisposal();
        }
        DeferredCloses.DeliverAll();
        PipePools.Clear();
    }
}
