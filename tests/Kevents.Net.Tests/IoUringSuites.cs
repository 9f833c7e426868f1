using Kevents.Native;
using Kevents.Net;

namespace Kevents.Tests;

// Kevents.Net's behaviour suites once more with the loop on the io_uring backend (on the epoll fallback where the
// kernel refuses io_uring; BackendSelectionTests in Kevents.Core.Tests says why). Each class only changes the backend:
// connections, listeners and their limits must behave the same on both.

public sealed class EchoOnIoUringTests : EchoTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class LifecycleOnIoUringTests : LifecycleTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class PeerResetOnIoUringTests : PeerResetTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class AcceptOnIoUringTests : AcceptTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class LimitOnIoUringTests : LimitTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class TimeoutEdgeOnIoUringTests : TimeoutEdgeTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class DataRateOnIoUringTests : DataRateTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class PipeSendTurnOnIoUringTests : PipeSendTurnTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class DirectSendOnIoUringTests : DirectSendTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class ConnectionIsolationOnIoUringTests : ConnectionIsolationTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class ConnectContinuationOnIoUringTests : ConnectContinuationTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class NetMetricsOnIoUringTests : NetMetricsTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class EchoUnderFaultsOnIoUringTests : EchoUnderFaultsTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

/// <summary>What only the io_uring backend does for Kevents.Net.</summary>
public sealed class StreamReceiveInRingTests : NetTest
{
    protected override LoopBackend Backend => LoopBackend.IoUring;

    [IoUringFact]
    public async Task StreamConnectionsReceiveThroughTheRingWithoutReadCalls()
    {
        Assert.Equal(LoopBackend.IoUring, Loop.Backend);
        // Every read(2) fails with a reset: a stream connection that still echoes got its bytes from the ring.
        var plan = new FaultPlan().Fail(FaultSite.Read, Errno.ECONNRESET, 1);
        using IDisposable armed = FaultInjection.Arm(plan);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(onData: (c, d) => c.Write(d))));
        using (System.Net.Sockets.Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            byte[] message = new byte[100_000];
            Random.Shared.NextBytes(message);
            Task send = client.SendAsync(message);
            byte[] back = await ReceiveExactlyAsync(client, message.Length);
            await send;
            Assert.Equal(message, back);
        }
        Assert.Equal(0, plan.Injected(FaultSite.Read));
        await OnLoop(server.Dispose);
    }
}

public sealed class GroupListenerOnIoUringTests : GroupListenerTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class AcceptFaultOnIoUringTests : AcceptFaultTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}
