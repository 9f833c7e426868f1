using Kevents.Native;

namespace Kevents.Tests;

public class DescriptorTests : LoopTest
{
    [Fact]
    public void LoopDescriptorsAreCloseOnExecAndNonBlocking()
    {
        EventLoop loop = NewLoop();
        Assert.True(Io.IsCloseOnExec(loop.PollerFd));
        Assert.True(Io.IsCloseOnExec(loop.WakeFd));
        Assert.True(Io.IsNonBlocking(loop.WakeFd));
    }

    [Fact]
    public void FdCountReturnsToBaselineAfterLoopsAreDisposed()
    {
        // LoopTest's static constructor has already opened the runtime's signal pipe (see there).
        int baseline = TestUtil.OpenFdCount();
        for (int i = 0; i < 50; i++)
        {
            using var loop = new EventLoop(WithBackend());
            var (a, b) = TestUtil.SocketPair();
            loop.Register(Kevent.Read(b.Fd), (in Kevent _) => loop.Stop());
            loop.Register(Kevent.Signal(Signals.SIGHUP), (in Kevent _) => { });
            Io.Write(a.Fd, [1]);
            loop.Run();
            loop.Unregister((ulong)b.Fd, KeventFilter.Read);
            a.Dispose();
            b.Dispose();
        }
        TestUtil.AssertFdCountReturnsTo(baseline);
    }
}
