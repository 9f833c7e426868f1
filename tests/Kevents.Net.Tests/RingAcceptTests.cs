using System.Collections.Concurrent;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// What only the io_uring backend does for listeners: the ring's multishot accept instead of accept(2), and the
/// server's limits kept with it (the batch per turn, EMFILE, stopping with connections in flight).
/// </summary>
public sealed class RingAcceptTests : NetTest
{
    private const int ONonBlock = 0x800; // O_NONBLOCK, 04000
    private const int OCloExec = 0x80000; // O_CLOEXEC, 02000000

    protected override LoopBackend Backend => LoopBackend.IoUring;

    [IoUringFact]
    public async Task ListenersAcceptThroughTheRingWithoutAcceptCallsAndEveryDescriptorIsNonBlockingAndCloseOnExec()
    {
        Assert.True(SocketServer.AcceptsInRing(Loop));
        // Every accept(2) fails: a server that still serves its clients got them from the ring.
        var plan = new FaultPlan().Fail(FaultSite.Accept, 105 /* ENOBUFS */, 1);
        var flags = new ConcurrentQueue<int>();
        using IDisposable armed = FaultInjection.Arm(plan);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(),
            new CallbackHandler(onConnected: c => flags.Enqueue(DescriptorFlags(c.Descriptor)), onData: (c, d) => c.Write(d))));
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                Socket client = await ConnectClientAsync(server.LocalEndPoint);
                clients.Add(client);
                await client.SendAsync(new[] { (byte)i });
                Assert.Equal(new[] { (byte)i }, await ReceiveExactlyAsync(client, 1));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        Assert.Equal(0, plan.Injected(FaultSite.Accept));
        Assert.Equal(20, flags.Count);
        Assert.All(flags, f => Assert.Equal(ONonBlock | OCloExec, f & (ONonBlock | OCloExec)));
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task ABurstBeyondTheBatchIsAllAcceptedAtMostABatchPerTurn()
    {
        const int Clients = 40;
        var options = new ServerOptions { AcceptsPerTurn = 2 };
        var turns = new ConcurrentQueue<long>();
        int mostDeferred = 0;
        SocketServer? server = null;
        server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(
            onConnected: c =>
            {
                turns.Enqueue(Loop.Iterations);
                mostDeferred = Math.Max(mostDeferred, server!.DeferredAcceptCount);
            },
            onData: (c, d) => c.Write(d)), options));
        var clients = new List<Socket>();
        try
        {
            // The loop is held while the clients connect, so the ring accepts them all at once when it runs again.
            using (await HoldLoopAsync())
            {
                for (int i = 0; i < Clients; i++)
                {
                    clients.Add(await ConnectClientAsync(server.LocalEndPoint));
                }
            }
            foreach (Socket client in clients)
            {
                await client.SendAsync("b"u8.ToArray());
                Assert.Equal("b"u8.ToArray(), await ReceiveExactlyAsync(client, 1));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        Assert.Equal(Clients, await OnLoop(() => server.TotalAccepted));
        Assert.Equal(Clients, turns.Count);
        Assert.All(turns.GroupBy(t => t), g => Assert.True(g.Count() <= 2, $"{g.Count()} connections accepted in one turn"));
        Assert.True(mostDeferred > 0, "the burst never went past one turn's batch: the test proved nothing");
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public Task StoppingWithConnectionsWaitingForTheNextTurnsBatchClosesThem() => StopWithConnectionsInFlightAsync(stopInHandler: false);

    [IoUringFact]
    public Task StoppingWithAcceptedConnectionsLaterInTheSameBatchClosesThem() => StopWithConnectionsInFlightAsync(stopInHandler: true);

    /// <summary>
    /// Twelve clients are accepted by the ring in one turn; the first one's handler stops the server, at once (the other
    /// eleven are still in the turn's batch) or from posted work (they wait for later turns' batches, one per turn).
    /// Either way the server serves one connection, the others are closed, and no descriptor is left behind.
    /// </summary>
    private async Task StopWithConnectionsInFlightAsync(bool stopInHandler)
    {
        const int Clients = 12;
        var options = new ServerOptions { AcceptsPerTurn = stopInHandler ? 64 : 1 };
        int deferredAtStop = -1;
        SocketServer? server = null;
        void Stop()
        {
            if (deferredAtStop < 0)
            {
                deferredAtStop = server!.DeferredAcceptCount;
                server.StopAccepting();
            }
        }
        server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(
            onConnected: c =>
            {
                if (stopInHandler)
                {
                    Stop();
                }
                else
                {
                    Loop.Post(Stop);
                }
            }), options));
        int fdsBefore = TestUtil.OpenFdCount();
        var clients = new List<Socket>();
        try
        {
            using (await HoldLoopAsync())
            {
                for (int i = 0; i < Clients; i++)
                {
                    clients.Add(await ConnectClientAsync(server.LocalEndPoint));
                }
            }
            await WaitUntilAsync(() => OnLoop(() => !server.IsListening), "the server stopped accepting");
            // The one connection served stays open; every other client sees the server close (or reset) its connection.
            bool[] open = await Task.WhenAll(clients.Select(StillOpenAsync));
            Assert.Equal(1, open.Count(o => o));
            Assert.Equal(1, await OnLoop(() => server.ConnectionCount));
            Assert.Equal(1, await OnLoop(() => server.TotalAccepted));
            Assert.Equal(0, await OnLoop(() => server.DeferredAcceptCount));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await OnLoop(server.Dispose);
        // The listener and every connection the ring accepted are gone: back to the count before the clients came.
        await WaitUntilAsync(() => Task.FromResult(TestUtil.OpenFdCount() <= fdsBefore - 1), "every accepted descriptor was closed");
        if (!stopInHandler)
        {
            Assert.True(deferredAtStop > 0, "no accepted connection waited for a later turn: the test proved nothing");
        }
    }

    [IoUringFact]
    public async Task DescriptorExhaustionInTheRingPausesAcceptingThenArmsItAgain()
    {
        AllowWarnings = true; // descriptor exhaustion is worth a warning
        // 3 s: the checks that accepting is paused (a connect, a receive, a short wait, a look at the loop) must fit in it
        // however slowly a busy machine runs the test's continuations.
        var options = new ServerOptions { DescriptorExhaustionPause = TimeSpan.FromSeconds(3) };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));
        var plan = new FaultPlan().Fail(FaultSite.RingAccept, Errno.EMFILE, probability: 1, budget: 1);
        using (FaultInjection.Arm(plan))
        {
            // The first connection is the one the injected EMFILE replaced: it is closed, and accepting pauses.
            using (Socket lost = await ConnectClientAsync(server.LocalEndPoint))
            {
                (byte[] data, bool _) = await ReceiveToEndAsync(lost);
                Assert.Empty(data);
            }
            Assert.Equal(1, plan.Injected(FaultSite.RingAccept));
            using Socket waiting = await ConnectClientAsync(server.LocalEndPoint);
            await Task.Delay(100);
            Assert.Equal(0, await OnLoop(() => server.TotalAccepted)); // paused: the client waits in the backlog
            await waiting.SendAsync("e"u8.ToArray());
            Assert.Equal("e"u8.ToArray(), await ReceiveExactlyAsync(waiting, 1)); // armed again after the pause
        }
        Assert.Single(Logs.Entries, e => e.EventId.Name == "DescriptorsExhausted");
        Assert.True(await OnLoop(() => server.HasSpareDescriptor));
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task DisposingALoopWhoseRingAcceptedConnectionsClosesThemAll()
    {
        // One thread does it all, so the ring's work for this thread runs at its system calls: the loop turns once
        // (submitting the accept), the clients connect (the kernel accepts them into completions nobody reaps), and
        // the loop is disposed without turning again. Only the disposal can close those descriptors.
        int accepted = await Task.Run(() =>
        {
            var loop = new EventLoop(new EventLoopOptions { LoggerFactory = Gate.LoggerFactory, Backend = LoopBackend.IoUring });
            SocketServer server = loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho());
            loop.Poll(new Kevent[4], TimeSpan.Zero);
            var clients = new List<Socket>();
            int before = TestUtil.OpenFdCount();
            for (int i = 0; i < 5; i++)
            {
                var client = new Socket(server.LocalEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                client.Connect(server.LocalEndPoint);
                clients.Add(client);
            }
            // Each client is one descriptor; each connection the ring accepted is one more.
            int acceptedNow = TestUtil.OpenFdCount() - before - clients.Count;
            loop.Dispose();
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
            return acceptedNow;
        });
        Assert.True(accepted > 0, "the ring accepted nothing before the disposal: the test proved nothing");
        // The leak gate checks that no accepted descriptor is left open.
    }

    /// <summary>Blocks the loop thread in a posted work item until the returned scope is disposed.</summary>
    private async Task<IDisposable> HoldLoopAsync()
    {
        var release = new ManualResetEventSlim();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Loop.Post(() =>
        {
            held.SetResult();
            release.Wait(Limit);
        });
        await held.Task.WaitAsync(Limit);
        return new Releaser(release);
    }

    private sealed class Releaser(ManualResetEventSlim release) : IDisposable
    {
        public void Dispose() => release.Set();
    }

    /// <summary>True when the peer neither closed nor reset the connection within a moment.</summary>
    private static async Task<bool> StillOpenAsync(Socket socket)
    {
        try
        {
            byte[] buffer = new byte[16];
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromMilliseconds(500));
            return n > 0;
        }
        catch (TimeoutException)
        {
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The open flags of a descriptor of this process, from /proc/self/fdinfo.</summary>
    private static int DescriptorFlags(int fd)
    {
        foreach (string line in File.ReadAllLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
        }
        return -1;
    }
}
