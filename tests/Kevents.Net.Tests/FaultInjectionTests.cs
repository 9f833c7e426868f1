using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// The echo behaviour suite again, with the kernel made awkward: reads and sends interrupted (EINTR), answered
/// spuriously with EAGAIN, or moving fewer bytes than asked; accepts and waits interrupted. Every byte must still
/// arrive in order and every connection close once.
/// </summary>
public class EchoUnderFaultsTests : EchoTests
{
    private readonly FaultPlan _plan = new FaultPlan(seed: 11)
        .Fail(FaultSite.Read, Errno.EINTR, 0.1).Fail(FaultSite.Read, Errno.EAGAIN, 0.05).Shorten(FaultSite.Read, 0.3)
        .Fail(FaultSite.Send, Errno.EINTR, 0.1).Fail(FaultSite.Send, Errno.EAGAIN, 0.05).Shorten(FaultSite.Send, 0.3)
        .Fail(FaultSite.Accept, Errno.EINTR, 0.2)
        .Fail(FaultSite.EpollWait, Errno.EINTR, 0.05);

    private readonly IDisposable _armed;

    public EchoUnderFaultsTests() => _armed = FaultInjection.Arm(_plan);

    [Fact]
    public async Task FaultsReallyFireDuringTheSuite()
    {
        await EightMebibytesEachWayArriveIntact(Api.Pipe);
        if (Loop.Backend == LoopBackend.Epoll)
        {
            Assert.True(_plan.Injected(FaultSite.Read) > 0, "no read fault fired");
        }
        else
        {
            // On io_uring the loop receives for connections (multishot receive): no read(2) is ever made.
            Assert.Equal(0, _plan.Injected(FaultSite.Read));
        }
        Assert.True(_plan.Injected(FaultSite.Send) > 0, "no send fault fired");
    }

    public override void Dispose()
    {
        _armed.Dispose();
        base.Dispose();
    }
}

/// <summary>Hard faults on one connection end that connection only; the server and its other connections go on.</summary>
public sealed class ConnectionFaultTests : NetTest
{
    [Theory]
    [InlineData(EchoTests.Api.Stream, "read", Errno.ECONNRESET)]
    [InlineData(EchoTests.Api.Pipe, "read", Errno.ECONNRESET)]
    [InlineData(EchoTests.Api.Stream, "send", Errno.EPIPE)]
    [InlineData(EchoTests.Api.Pipe, "send", Errno.EPIPE)]
    [InlineData(EchoTests.Api.Stream, "send", Errno.ECONNRESET)]
    [InlineData(EchoTests.Api.Pipe, "send", Errno.ECONNRESET)]
    public async Task AHardErrorOnOneConnectionClosesOnlyThatOne(EchoTests.Api api, string call, int errno)
    {
        FaultSite site = call == "read" ? FaultSite.Read : FaultSite.Send;
        int newest = -1;
        SocketServer server = await OnLoop(() => api == EchoTests.Api.Stream
            ? Loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(onConnected: c => newest = c.Descriptor, onData: (c, d) => c.Write(d)))
            : Loop.ListenTcp(TestUtil.AnyLoopback(), c =>
            {
                newest = c.Descriptor;
                return PipeEcho.RunAsync(c);
            }));
        using Socket good = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the good connection was accepted");
        using Socket doomed = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 2), "both connections were accepted");
        await good.SendAsync("a"u8.ToArray());
        Assert.Equal("a"u8.ToArray(), await ReceiveExactlyAsync(good, 1));

        int doomedFd = await OnLoop(() => newest);
        var plan = new FaultPlan { Descriptors = fd => fd == doomedFd }.Fail(site, errno, probability: 1);
        using (FaultInjection.Arm(plan))
        {
            await doomed.SendAsync("b"u8.ToArray());
            await ReceiveToEndAsync(doomed);
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the failed connection left the server");
            Assert.True(plan.Injected(site) > 0, "the fault never fired");
        }
        await good.SendAsync("c"u8.ToArray());
        Assert.Equal("c"u8.ToArray(), await ReceiveExactlyAsync(good, 1));
        await OnLoop(server.Dispose);
    }
}

/// <summary>
/// The listener out of descriptors or buffers: it pauses, then serves the client that retries. On io_uring the faults
/// fall on the ring's accept completions (accept(2) is not called there).
/// </summary>
public class AcceptFaultTests : NetTest
{
    private FaultSite AcceptSite => SocketServer.AcceptsInRing(Loop) ? FaultSite.RingAccept : FaultSite.Accept;

    [Theory]
    [InlineData(Errno.EMFILE)]
    [InlineData(Errno.ENFILE)]
    [InlineData(105)] // ENOBUFS
    public async Task AcceptOutOfDescriptorsOrBuffersPausesThenServesTheClient(int errno)
    {
        AllowWarnings = true; // descriptor exhaustion is worth a warning
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho()));
        var plan = new FaultPlan().Fail(AcceptSite, errno, probability: 1, budget: 3);
        using (FaultInjection.Arm(plan))
        {
            // The first connection may be shed while descriptors "ran out"; a client that retries gets served.
            DateTime deadline = DateTime.UtcNow + Limit;
            while (true)
            {
                using Socket client = await ConnectClientAsync(server.LocalEndPoint);
                await client.SendAsync("z"u8.ToArray());
                var buffer = new byte[1];
                int n;
                try
                {
                    n = await client.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(3));
                }
                catch (Exception ex) when (ex is SocketException or TimeoutException)
                {
                    n = 0;
                }
                if (n == 1)
                {
                    break;
                }
                Assert.True(DateTime.UtcNow < deadline, "the server never served a client after descriptors came back");
            }
            Assert.True(plan.Injected(AcceptSite) > 0, "the fault never fired");
        }
        await OnLoop(server.Dispose);
    }
}
