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
