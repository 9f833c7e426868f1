using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>The accept path: descriptor headroom kept for the rest of the process, and listener failures that must not spin.</summary>
public class AcceptTests : NetTest
{
    private const int ENOBUFS = 105;
    private const int EPROTO = 71;

    [Fact]
    public async Task ConnectionsThatWouldEatTheDescriptorReserveAreShedAndServingGoesOnAcrossFloods()
    {
        // A lowered cap: the reserve is set so that only a dozen descriptors are left above it in this process.
        // The real thing (a flood to RLIMIT_NOFILE) runs in EchoServer/FileServer processes in Kevents.Samples.Tests
        // and bench/fd-flood.sh.
        AllowWarnings = true;
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        int free = ProcessLimits.CountFreeDescriptors((int)probe.Handle, int.MaxValue);
        Assert.True(free > 100, $"only {free} descriptors free");
        // The listener and the spare take two; a few more are slack for the runtime's own opening and closing.
        var options = new ServerOptions { DescriptorReserve = free - 14 };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));

        using Socket good = await ConnectClientAsync(server.LocalEndPoint);
        await EchoAsync(good, "before");
        for (int round = 0; round < 3; round++)
        {
            var flood = new List<Socket>();
            try
            {
                for (int i = 0; i < 40; i++)
                {
                    flood.Add(await ConnectClientAsync(server.LocalEndPoint));
                }
                int served = 0, shed = 0;
                foreach (Socket client in flood)
                {
                    if (await TryEchoAsync(client))
                    {
                        served++;
                    }
                    else
                    {
                        shed++;
                    }
                }
                Assert.True(shed >= 20, $"round {round}: only {shed} of 40 were shed ({served} served)");
                Assert.True(served <= 16, $"round {round}: {served} of 40 were served past the reserve");
                await EchoAsync(good, $"round {round}");
            }
            finally
            {
                flood.ForEach(c => c.Dispose());
            }
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the flood's connections closed");
        }

        // Once the flood is gone, new connections are served again (within the 20 ms re-count).
        await Task.Delay(50);
        using (Socket late = await ConnectClientAsync(server.LocalEndPoint))
        {
            await EchoAsync(late, "after");
        }
        long shedTotal = await OnLoop(() => server.TotalShedForDescriptors);
        Assert.True(shedTotal >= 60, $"{shedTotal} shed in three rounds");
        Assert.True(await OnLoop(() => server.TotalRejected) >= shedTotal);
        Assert.Contains(Logs.Entries, e => e.Level == LogLevel.Warning && e.EventId.Name == "SheddingForDescriptors");
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name == "DescriptorsExhausted");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task BurstOfConnectionsFarFromTheLimitIsNeverShed()
    {
        // One count of free descriptors covers a budget of accepts; a burst that spends the budget faster than the
        // re-count interval must be counted again, not shed.
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions()));
        // A small budget per count, so that a burst spends many budgets within one re-count interval.
        await OnLoop(() => server.ProbeSpan = 8);
        var clients = new List<Socket>();
        try
        {
            for (int batch = 0; batch < 6; batch++)
            {
                clients.AddRange(await Task.WhenAll(Enumerable.Range(0, 250).Select(_ => ConnectClientAsync(server.LocalEndPoint))));
            }
            await WaitUntilAsync(() => OnLoop(() => server.TotalAccepted + server.TotalRejected == 1500), "every connection was taken in");
            Assert.Equal((0L, 1500L), await OnLoop(() => (server.TotalShedForDescriptors, server.TotalAccepted)));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connections closed");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task DescriptorReserveIsValidated()
    {
        long limit = ProcessLimits.OpenFilesLimit();
        var negative = new ServerOptions { DescriptorReserve = -1 };
        var atLimit = new ServerOptions { DescriptorReserve = (int)Math.Min(limit, int.MaxValue) };
        Exception? e1 = await OnLoop(() => Record.Exception(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), negative)));
        Exception? e2 = await OnLoop(() => Record.Exception(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), atLimit)));
        Assert.Equal("DescriptorReserve", Assert.IsType<ArgumentOutOfRangeException>(e1).ParamName);
        Assert.Equal("DescriptorReserve", Assert.IsType<ArgumentOutOfRangeException>(e2).ParamName);
        Assert.Equal(256, new ServerOptions().EffectiveDescriptorReserve(20_000));
        Assert.Equal(51, new ServerOptions().EffectiveDescriptorReserve(1024));
        Assert.Equal(16, new ServerOptions().EffectiveDescriptorReserve(160));
    }

    [Fact]
    public async Task ListenerFailureOtherThanExhaustionPausesAcceptingInsteadOfSpinning()
    {
        AllowWarnings = true;
        var options = new ServerOptions { DescriptorExhaustionPause = TimeSpan.FromMilliseconds(200) };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));
        var plan = new FaultPlan().Fail(AcceptSite, ENOBUFS, probability: 1);
        IDisposable armed = FaultInjection.Arm(plan);
        Socket client;
        try
        {
            client = await ConnectClientAsync(server.LocalEndPoint);
            await WaitUntilAsync(() => Task.FromResult(plan.Injected(AcceptSite) > 0), "the server tried to accept");
            await Task.Delay(1000);
            long callsWhileFailing = plan.Injected(AcceptSite);
            // One try per 200 ms pause is about five in a second; a spinning listener tries thousands of times.
            Assert.True(callsWhileFailing <= 30, $"{callsWhileFailing} accept calls in about a second of ENOBUFS");
            int warnings = Logs.Entries.Count(e => e.EventId.Name == "AcceptFailedPausing");
            Assert.InRange(warnings, 1, 3);
        }
        finally
        {
            armed.Dispose();
        }
        if (InjectedFailureLosesTheConnection)
        {
            client.Dispose();
            client = await ConnectClientAsync(server.LocalEndPoint);
        }
        using (client)
        {
            await EchoAsync(client, "served after the pause");
        }
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PendingConnectionErrorLosesOnlyThatConnectionAndAcceptingGoesOnAtOnce()
    {
        // A pause would hold the client for 60 s, far past the test's limit: it must be served at once.
        var options = new ServerOptions { DescriptorExhaustionPause = TimeSpan.FromSeconds(60) };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));
        var plan = new FaultPlan().Fail(AcceptSite, EPROTO, probability: 1, budget: 1);
        using (FaultInjection.Arm(plan))
        {
            using Socket client = await ConnectClientAsync(server.LocalEndPoint);
            if (InjectedFailureLosesTheConnection)
            {
                // The ring had accepted it before the injected failure replaced it: that connection is the one lost.
                using Socket next = await ConnectClientAsync(server.LocalEndPoint);
                await EchoAsync(next, "served");
            }
            else
            {
                await EchoAsync(client, "served");
            }
        }
        Assert.Equal(1, plan.Injected(AcceptSite));
        Assert.Contains(Logs.Entries, e => e.Level == LogLevel.Debug && e.EventId.Name == "PendingConnectionFailed");
        await OnLoop(server.Dispose);
    }

    /// <summary>
    /// Where a fault plan fails this loop's accepts: accept(2) (readiness), or the ring's accept completions where the
    /// io_uring backend accepts in the ring.
    /// </summary>
    private protected FaultSite AcceptSite => SocketServer.AcceptsInRing(Loop) ? FaultSite.RingAccept : FaultSite.Accept;

    /// <summary>
    /// A failure injected into accept(2) replaces the call, so the connection stays in the backlog and is accepted next
    /// time; one injected into a ring's completion replaces a connection the kernel already accepted, which is closed.
    /// </summary>
    private protected bool InjectedFailureLosesTheConnection => AcceptSite == FaultSite.RingAccept;

    private static async Task EchoAsync(Socket client, string text)
    {
        byte[] message = System.Text.Encoding.ASCII.GetBytes(text);
        await client.SendAsync(message);
        Assert.Equal(message, await ReceiveExactlyAsync(client, message.Length));
    }

    /// <summary>True when the server echoed; false when it closed or reset the connection.</summary>
    private static async Task<bool> TryEchoAsync(Socket client)
    {
        try
        {
            await client.SendAsync("x"u8.ToArray());
            byte[] one = new byte[1];
            int n = await client.ReceiveAsync(one.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            return n == 1;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
