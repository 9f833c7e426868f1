using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Listeners over an EventLoopGroup: every loop serves connections in each distribution mode, a connection stays on
/// its loop, the group stops and disposes in one call, and no descriptor is lost on the acceptor's hand-off.
/// </summary>
public class GroupListenerTests : NetTest
{
    private readonly List<IDisposable> _owned = [];

    private EventLoopGroup StartGroup(int loops, bool pin = false)
    {
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = loops, PinToCpus = pin, LoggerFactory = Gate.LoggerFactory, Backend = Backend });
        _owned.Add(group);
        group.Start();
        return group;
    }

    /// <summary>Records, per connection, the loop and thread that served each of its events.</summary>
    private sealed class RecordingEcho(EventLoopGroup group) : IStreamHandler
    {
        public readonly ConcurrentQueue<string> Violations = new();
        public readonly ConcurrentDictionary<long, EventLoop> LoopOf = new();

        public void OnConnected(StreamConnection connection)
        {
            LoopOf[connection.Id] = connection.Loop;
            Check(connection);
        }

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
            Check(connection);
            connection.Write(data);
        }

        public void OnEndOfStream(StreamConnection connection) => connection.Close();

        public void OnClosed(StreamConnection connection, Exception? error) => Check(connection);

        private void Check(StreamConnection connection)
        {
            if (group.Current != connection.Loop || LoopOf[connection.Id] != connection.Loop)
            {
                Violations.Enqueue($"connection {connection.Id} of {connection.Loop.Name} served on {Thread.CurrentThread.Name}");
            }
        }
    }

    private static async Task<List<Socket>> ConnectAndEchoAsync(EndPoint endPoint, int count)
    {
        var clients = new List<Socket>(count);
        for (int i = 0; i < count; i++)
        {
            clients.Add(await ConnectClientAsync(endPoint));
        }
        byte[] one = [42];
        foreach (Socket client in clients)
        {
            await client.SendAsync(one, SocketFlags.None);
            Assert.Equal(one, await ReceiveExactlyAsync(client, 1));
        }
        return clients;
    }

    private static async Task WaitForCountAsync(SocketServerGroup server, int total)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (server.ConnectionCount != total)
        {
            Assert.True(DateTime.UtcNow < deadline, $"expected {total} live connections, saw {string.Join("/", server.ConnectionCounts())}");
            await Task.Delay(5);
        }
    }

    [Theory]
    [InlineData(LoopDistribution.ReusePort)]
    [InlineData(LoopDistribution.Acceptor)]
    public async Task ConnectionsLandOnEveryLoopAndStayThere(LoopDistribution distribution)
    {
        EventLoopGroup group = StartGroup(2);
        var handler = new RecordingEcho(group);
        using SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), handler, distribution: distribution);
        Assert.Equal(2, server.Servers.Count);
        Assert.Equal(distribution, server.Distribution);

        // Reuseport hashes each connection's 4-tuple to a listener: with 2 loops the chance that all 64 land on one
        // loop is 2 * 2^-64 (about 1e-19). The acceptor gives each new connection to the loop with fewer live ones.
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 64);
        try
        {
            await WaitForCountAsync(server, 64);
            int[] counts = server.ConnectionCounts();
            Assert.All(counts, c => Assert.True(c > 0, $"a loop has no connection: {string.Join("/", counts)}"));
            if (distribution == LoopDistribution.Acceptor)
            {
                // Nothing closed meanwhile, so least-loaded alternates exactly.
                Assert.Equal([32, 32], counts);
            }
            Assert.Equal(64, server.TotalAccepted);
            Assert.Equal(counts.Select(c => (long)c), server.AcceptedCounts());
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(counts[i], handler.LoopOf.Values.Count(l => l == group.Loops[i]));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitForCountAsync(server, 0);
        Assert.Empty(handler.Violations);
    }

    [Fact]
    public async Task PipeApplicationsAreServedOnEveryLoop()
    {
        EventLoopGroup group = StartGroup(2);
        var loops = new ConcurrentDictionary<string, int>();
        using SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), async connection =>
        {
            loops.AddOrUpdate(Thread.CurrentThread.Name!, 1, (_, n) => n + 1);
            await PipeEcho.RunAsync(connection);
        }, distribution: LoopDistribution.Acceptor);
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 8);
        clients.ForEach(c => c.Dispose());
        Assert.Equal(["kevents-loop-0", "kevents-loop-1"], loops.Keys.Order());
        await WaitForCountAsync(server, 0);
    }

    [Fact]
    public async Task ListenersSetUpBeforeStartServeOnceTheGroupRuns()
    {
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory, Backend = Backend });
        _owned.Add(group);
        SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho());
        int port = ((IPEndPoint)server.LocalEndPoint).Port;
        Assert.NotEqual(0, port);
        Assert.All(server.Servers, s => Assert.Equal(port, ((IPEndPoint)s.LocalEndPoint).Port));
        group.Start();
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 4);
        clients.ForEach(c => c.Dispose());
        await WaitForCountAsync(server, 0);
        server.Dispose();
    }

    [Fact]
    public async Task CpuLocalReuseportServesEachConnectionOnTheCpuThatReceivedIt()
    {
        int[] allowed = CpuAffinity.AllowedCpus();
        Assert.True(allowed.SequenceEqual(Enumerable.Range(0, allowed.Length)), $"this test needs CPUs 0..N-1, the process may use {string.Join(",", allowed)}");
        EventLoopGroup group = StartGroup(allowed.Length, pin: true);
        var handler = new RecordingEcho(group);
        using SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), handler, distribution: LoopDistribution.ReusePortCpu);

        // On loopback the kernel handles a connect's SYN on the CPU of the connecting thread, so a client pinned to
        // CPU c must be served by loop c.
        var clients = new List<Socket>();
        try
        {
            foreach (int cpu in allowed)
            {
                for (int k = 0; k < 4; k++)
                {
                    Socket client = TestUtil.ConnectFromCpu(server.LocalEndPoint, cpu);
                    clients.Add(client);
                    await client.SendAsync(new byte[] { 7 }, SocketFlags.None);
                    Assert.Equal([7], await ReceiveExactlyAsync(client, 1));
                }
                await WaitForCountAsync(server, clients.Count);
                Assert.Equal(4, server.Servers[cpu].ConnectionCount);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitForCountAsync(server, 0);
        Assert.Empty(handler.Violations);
    }

    [Fact]
    public void CpuLocalReuseportOnAnUnpinnedGroupSaysWhatItNeeds()
    {
        EventLoopGroup group = StartGroup(1);
        var ex = Assert.Throws<ArgumentException>(() => group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: LoopDistribution.ReusePortCpu));
        Assert.Contains("ReusePortCpu needs one loop per CPU", ex.Message);
        Assert.Contains("PinToCpus=False", ex.Message);
    }

    [Fact]
    public void BadServerOptionsAreRefusedByNameBeforeAnyListenerOpens()
    {
        EventLoopGroup group = StartGroup(2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { Backlog = 0 }));
        Assert.Equal("Backlog", ex.ParamName);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: (LoopDistribution)9));
        Assert.Equal("distribution", bad.ParamName);
    }

    [Fact]
    public async Task APortInUseFailsWithoutLeavingListenersBehind()
    {
        EventLoopGroup group = StartGroup(2);
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(TestUtil.AnyLoopback());
        holder.Listen();
        var ex = Assert.Throws<SocketException>(() => group.ListenTcp((IPEndPoint)holder.LocalEndPoint!, new StreamEcho()));
        Assert.Contains("address already in use", ex.Message);
        await Task.Delay(1);
    }

    [Theory]
    [InlineData(LoopDistribution.ReusePort)]
    [InlineData(LoopDistribution.Acceptor)]
    public async Task DisposingTheGroupClosesEveryListenerAndConnection(LoopDistribution distribution)
    {
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory, Backend = Backend });
        group.Start();
        SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: distribution);
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 16);
        try
        {
            await WaitForCountAsync(server, 16);
            group.Dispose();
            Assert.True(group.Completion.IsCompletedSuccessfully);
            foreach (Socket client in clients)
            {
                (byte[] data, _) = await ReceiveToEndAsync(client);
                Assert.Empty(data);
            }
            var refused = Assert.ThrowsAny<SocketException>(() =>
            {
                using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                late.Connect(server.LocalEndPoint);
            });
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Theory]
    [InlineData(LoopDistribution.ReusePort)]
    [InlineData(LoopDistribution.Acceptor)]
    public async Task ShutdownDrainsEveryLoop(LoopDistribution distribution)
    {
        EventLoopGroup group = StartGroup(2);
        SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: distribution);
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 8);
        try
        {
            Task drained = server.ShutdownAsync(TimeSpan.FromSeconds(10));
            foreach (Socket client in clients)
            {
                (byte[] data, bool reset) = await ReceiveToEndAsync(client);
                Assert.False(reset);
                Assert.Empty(data);
            }
            await drained.WaitAsync(Limit);
            Assert.Equal(0, server.ConnectionCount);
            Assert.All(server.Servers, s => Assert.False(s.IsListening));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        server.Dispose();
    }

    [Fact]
    public async Task HandOffsToAStoppedLoopAreClosedWhenItIsDisposed()
    {
        // Loop 1 stops while the acceptor on loop 0 goes on handing it connections: they wait in its inbox, and
        // disposing the group must close every one of them (the leak gate counts descriptors exactly).
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory, Backend = Backend });
        group.Start();
        SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: LoopDistribution.Acceptor);
        await group.Loops[1].InvokeAsync(() => group.Loops[1].Stop());
        await WaitUntilAsync(() => Task.FromResult(!group.Loops[1].IsRunning), "loop 1 stopped");
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                clients.Add(await ConnectClientAsync(server.LocalEndPoint));
            }
            // Four were handed to loop 0 and served; four wait for loop 1.
            await WaitForCountAsync(server, 4);
            await Task.Delay(20);
            Assert.Equal([4, 0], server.ConnectionCounts());
            group.Dispose();
            foreach (Socket client in clients)
            {
                (byte[] data, _) = await ReceiveToEndAsync(client);
                Assert.Empty(data);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task HandOffsAfterTheServerWasDisposedAreClosed()
    {
        EventLoopGroup group = StartGroup(2);
        SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), distribution: LoopDistribution.Acceptor);
        // The adopters close first; offers that reach a closed inbox close the descriptor at once.
        foreach (SocketServer adopter in server.Servers)
        {
            await adopter.ShutdownAsync(TimeSpan.Zero);
        }
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        (byte[] data, _) = await ReceiveToEndAsync(client);
        Assert.Empty(data);
        Assert.Equal(0, server.TotalAccepted);
        server.Dispose();
    }

#if DEBUG
    [Fact]
    public async Task UsingAConnectionFromAnotherLoopFailsInDebugBuilds()
    {
        EventLoopGroup group = StartGroup(2);
        var connections = new ConcurrentQueue<StreamConnection>();
        var handler = new ConnectedRecorder(connections);
        using SocketServerGroup server = group.ListenTcp(TestUtil.AnyLoopback(), handler, distribution: LoopDistribution.Acceptor);
        List<Socket> clients = await ConnectAndEchoAsync(server.LocalEndPoint, 2);
        try
        {
            StreamConnection onLoop1 = connections.Single(c => c.Loop == group.Loops[1]);
            // Loop 0 touches loop 1's connection: the check in Write names the connection's loop and the way out.
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => group.Loops[0].InvokeAsync(() => onLoop1.Write([1])));
            Assert.Contains("lives on loop 'kevents-loop-1'", ex.Message);
            Assert.Contains("Post", ex.Message);
            // From its own loop the same call is fine.
            Assert.True(await group.Loops[1].InvokeAsync(() => onLoop1.Write([1])));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitForCountAsync(server, 0);
    }

    private sealed class ConnectedRecorder(ConcurrentQueue<StreamConnection> connections) : IStreamHandler
    {
        public void OnConnected(StreamConnection connection) => connections.Enqueue(connection);

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);

        public void OnEndOfStream(StreamConnection connection) => connection.Close();

        public void OnClosed(StreamConnection connection, Exception? error)
        {
        }
    }
#endif

    public override void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
        base.Dispose();
    }
}
