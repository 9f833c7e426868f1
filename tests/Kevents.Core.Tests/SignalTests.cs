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
        // Send again every 200 ms until it arrives: once seen in CI under heavy load, the first signal after the
        // runtime re-installed its SIGHUP handler was not reported; the property under test is the kevent path.
        loop.Register(Kevent.Timer(77, TimeSpan.FromMilliseconds(200), periodic: true), (in Kevent _) => ProcessSignals.SendToSelf(ProcessSignals.SIGHUP));
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
        loop.Register(Kevent.Timer(77, TimeSpan.FromMilliseconds(200), periodic: true), (in Kevent _) => ProcessSignals.SendToSelf(ProcessSignals.SIGTERM));
        loop.Post(() => ProcessSignals.SendToSelf(ProcessSignals.SIGTERM));
        RunWithLimit(loop);
        Assert.True(stopped);
        loop.Unregister(ProcessSignals.SIGTERM, KeventFilter.Signal);
    }
}
