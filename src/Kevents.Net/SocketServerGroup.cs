using System.Net;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>
/// A TCP listener spread over every loop of an <see cref="EventLoopGroup"/>: one <see cref="SocketServer"/> per loop
/// serves the connections that land on that loop, and each connection stays on its loop for life. Create one with
/// <see cref="EventLoopGroupNetExtensions.ListenTcp(EventLoopGroup, IPEndPoint, IStreamHandler, ServerOptions?, LoopDistribution)"/>.
/// Every member is safe from any thread.
/// </summary>
/// <remarks>
/// <see cref="ServerOptions"/> apply per loop: <see cref="ServerOptions.MaxConnections"/> is the limit of each loop's
/// server, so the group holds up to <see cref="Servers"/>.Count times as many.
/// </remarks>
public sealed class SocketServerGroup : IDisposable
{
    private readonly SocketServer[] _servers;
    private readonly SocketServer? _acceptor;

    internal SocketServerGroup(EventLoopGroup group, LoopDistribution distribution, EndPoint localEndPoint, SocketServer[] servers, SocketServer? acceptor)
    {
        Group = group;
        Distribution = distribution;
        LocalEndPoint = localEndPoint;
        _servers = servers;
        _acceptor = acceptor;
        Servers = servers.AsReadOnly();
    }

    /// <summary>The group whose loops serve the connections.</summary>
    public EventLoopGroup Group { get; }

    /// <summary>How connections are spread over the loops.</summary>
    public LoopDistribution Distribution { get; }

    /// <summary>The address listened on (with the real port when bound to port 0).</summary>
    public EndPoint LocalEndPoint { get; }

    /// <summary>
    /// The server of each loop, in the order of <see cref="EventLoopGroup.Loops"/>. With
    /// <see cref="LoopDistribution.Acceptor"/> these hold no socket of their own; the one listening socket lives on
    /// loop 0 beside them. A <see cref="SocketServer"/>'s members are for its own loop's thread; from elsewhere read
    /// the counts through this class.
    /// </summary>
    public IReadOnlyList<SocketServer> Servers { get; }

    /// <summary>Live connections of each loop, in loop order (a snapshot; each loop updates its own count).</summary>
    public int[] ConnectionCounts()
    {
        var counts = new int[_servers.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = _servers[i].ConnectionCount;
        }
        return counts;
    }

    /// <summary>Connections each loop accepted and served since the listener started, in loop order (a snapshot).</summary>
    public long[] AcceptedCounts()
    {
        var counts = new long[_servers.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = _servers[i].TotalAccepted;
        }
        return counts;
    }

    /// <summary>Live connections over every loop.</summary>
    public int ConnectionCount => ConnectionCounts().Sum();

    /// <summary>Connections accepted and served over every loop.</summary>
    public long TotalAccepted => AcceptedCounts().Sum();

    /// <summary>Connections refused over every loop (limits, descriptor reserve).</summary>
    public long TotalRejected
    {
        get
        {
            long total = _acceptor?.TotalRejected ?? 0;
            foreach (SocketServer server in _servers)
            {
                total += server.TotalRejected;
            }
            return total;
        }
    }

    /// <summary>
    /// Stops accepting on every loop at once, then drains each loop's connections as
    /// <see cref="SocketServer.ShutdownAsync"/> does, aborting what is left at the deadline. Completes when no
    /// connection is left on any loop.
    /// </summary>
    /// <param name="drainTimeout">As for <see cref="SocketServer.ShutdownAsync"/>: default 30 s.</param>
    public Task ShutdownAsync(TimeSpan? drainTimeout = null)
    {
        var tasks = new List<Task>(_servers.Length + 1);
        if (_acceptor is not null)
        {
            tasks.Add(_acceptor.ShutdownAsync(drainTimeout));
        }
        foreach (SocketServer server in _servers)
        {
            tasks.Add(server.ShutdownAsync(drainTimeout));
        }
        return Task.WhenAll(tasks);
    }

    /// <summary>
    /// Closes every listening socket and leaves live connections alone, for applications that drain their connections
    /// themselves (<see cref="SocketServer.StopAccepting"/> on every loop). Returns once every loop has stopped
    /// accepting; a loop that is not running is handled on the calling thread.
    /// </summary>
    public void StopAccepting()
    {
        if (_acceptor is not null)
        {
            OnLoop(_acceptor.Loop, () => { _acceptor.StopAccepting(); return 0; });
        }
        foreach (SocketServer server in _servers)
        {
            OnLoop(server.Loop, () => { server.StopAccepting(); return 0; });
        }
    }

    /// <summary>Stops listening and aborts every connection on every loop (<see cref="SocketServer.Dispose"/> per loop).</summary>
    public void Dispose()
    {
        _acceptor?.Dispose();
        foreach (SocketServer server in _servers)
        {
            server.Dispose();
        }
    }

    /// <summary>Creates the servers of a group listener, each on its own loop and in loop order.</summary>
    internal static SocketServerGroup Create(EventLoopGroup group, IPEndPoint endPoint, ServerOptions? options, LoopDistribution distribution,
        Func<PipeConnection, Task>? application, Func<EventLoop, IStreamHandler>? handlers)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(endPoint);
        ServerOptions serverOptions = (options ?? new ServerOptions()).Validate();
        if (distribution == LoopDistribution.ReusePortCpu)
        {
            CheckCpuLocal(group);
        }
        else if (distribution is not (LoopDistribution.ReusePort or LoopDistribution.Acceptor))
        {
            throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "Use LoopDistribution.ReusePort, ReusePortCpu or Acceptor.");
        }

        IReadOnlyList<EventLoop> loops = group.Loops;
        var servers = new SocketServer[loops.Count];
        SocketServer? acceptor = null;
        try
        {
            if (distribution == LoopDistribution.Acceptor)
            {
                // The acceptor serves nobody itself; a handler is there only because every server has one.
                acceptor = OnLoop(loops[0], () => new SocketServer(loops[0], endPoint, serverOptions, application,
                    application is null ? NoConnections.Instance : null, GroupRole.Acceptor));
                EndPoint bound = acceptor.LocalEndPoint;
                var load = new LoopLoad(loops.Count);
                for (int i = 0; i < loops.Count; i++)
                {
                    int index = i;
                    servers[i] = OnLoop(loops[i], () => new SocketServer(loops[index], bound, serverOptions, application, HandlerFor(handlers, loops[index]), GroupRole.Adopter)
                    {
                        Load = load,
                        LoadIndex = index,
                    });
                    _ = servers[i].Inbox;
                }
                SocketServer[] targets = servers;
                acceptor.Handoff = fd =>
                {
                    int target = load.AcquireLeastLoaded();
                    targets[target].Inbox.Offer(fd);
                };
                return new SocketServerGroup(group, distribution, bound, servers, acceptor);
            }

            // Port 0: the first listener gets a port from the kernel, the rest join it there.
            IPEndPoint at = endPoint;
            for (int i = 0; i < loops.Count; i++)
            {
                int index = i;
                GroupRole role = distribution == LoopDistribution.ReusePortCpu && i == 0 ? GroupRole.ReusePortCpu : GroupRole.ReusePort;
                IPEndPoint bindTo = at;
                servers[i] = OnLoop(loops[i], () => new SocketServer(loops[index], bindTo, serverOptions, application, HandlerFor(handlers, loops[index]), role));
                if (i == 0 && servers[0].LocalEndPoint is IPEndPoint first)
                {
                    at = new IPEndPoint(endPoint.Address, first.Port);
                }
            }
            return new SocketServerGroup(group, distribution, servers[0].LocalEndPoint, servers, null);
        }
        catch
        {
            acceptor?.Dispose();
            foreach (SocketServer? server in servers)
            {
                server?.Dispose();
            }
            throw;
        }
    }

    /// <summary>The handler of one loop's server, from the factory the application gave (called on that loop's thread).</summary>
    private static IStreamHandler? HandlerFor(Func<EventLoop, IStreamHandler>? handlers, EventLoop loop)
    {
        if (handlers is null)
        {
            return null;
        }
        return handlers(loop) ?? throw new InvalidOperationException(
            $"The handler factory given to EventLoopGroup.ListenTcp returned null for loop '{loop.Name}'; it must return a handler for every loop.");
    }

    private sealed class NoConnections : IStreamHandler
    {
        public static readonly NoConnections Instance = new();

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
        }
    }

    private static void CheckCpuLocal(EventLoopGroup group)
    {
        int[] allowed = CpuAffinity.AllowedCpus();
        bool pinnedInOrder = group.Options.PinToCpus;
        for (int i = 0; pinnedInOrder && i < group.Count; i++)
        {
            pinnedInOrder = group.GetPinnedCpu(i) == i;
        }
        if (!pinnedInOrder || group.Count != allowed.Length)
        {
            throw new ArgumentException(
                $"LoopDistribution.ReusePortCpu needs one loop per CPU, loop i pinned to CPU i: the kernel runs the attached program on the CPU that received a connection, and takes the CPU number it returns as the index of the listener to use. " +
                $"This group has {group.Count} loop(s), PinToCpus={group.Options.PinToCpus}, and the process may use {allowed.Length} CPU(s) ({string.Join(",", allowed)}). " +
                "Create the group with EventLoopGroupOptions { PinToCpus = true } and the default LoopCount on a process allowed CPUs 0..N-1, or use LoopDistribution.ReusePort.",
                "distribution");
        }
    }

    /// <summary>Runs <paramref name="create"/> on <paramref name="loop"/>'s thread (or here, when the loop is not running) and returns its result.</summary>
    private static T OnLoop<T>(EventLoop loop, Func<T> create)
    {
        if (!loop.IsRunning || loop.IsOnLoopThread)
        {
            return create();
        }
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(() =>
        {
            try
            {
                done.TrySetResult(create());
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        });
        if (!((IAsyncResult)done.Task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"Loop '{loop.Name}' did not run the listener's setup within 30 s; is it stopped or blocked?");
        }
        return done.Task.GetAwaiter().GetResult();
    }
}
