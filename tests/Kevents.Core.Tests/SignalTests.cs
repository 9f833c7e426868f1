using Kevents.Native;

namespace Kevents.Tests;

public class SignalTests : LoopTest
{
    [Fact]
    public void SignalArrivesAsKeventOnTheLoop()
    {
        EventLoop loop = NewLoop();
        Kevent? seen = null;
        int thread = 0;
        loop.Register(Kevent.Signal(ProcessSignals.SIGHUP, userData: 8), (in Kevent ev) =>
        {
            seen = ev;
            thread = Environment.CurrentManagedThreadId;
            loop.Stop();
        });
        loop.Post(() => Assert.Equal(0, ProcessSignals.SendToSelf(ProcessSignals.SIGHUP)));
        RunWithLimit(loop);
        Assert.Equal((ulong)ProcessSignals.SIGHUP, seen!.Value.Ident);
        Assert.Equal(KeventFilter.Signal, seen.Value.Filter);
        Assert.Equal(8UL, seen.Value.UserData);
        Assert.True(seen.Value.Data >= 1);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
        loop.Unregister(ProcessSignals.SIGHUP, KeventFilter.Signal);
    }

    [Fact]
    public void SigtermStopsTheLoopInsteadOfTheProcess()
    {
        EventLoop loop = NewLoop();
        bool stopped = false;
        loop.Register(Kevent.Signal(ProcessSignals.SIGTERM), (in Kevent _) =>
        {
            stopped = true;
            loop.Stop();
        });
        loop.Post(() => ProcessSignals.SendToSelf(ProcessSignals.SIGTERM));
        RunWithLimit(loop);
        Assert.True(stopped);
        loop.Unregister(ProcessSignals.SIGTERM, KeventFilter.Signal);
    }
}
