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
        loop.Register(Kevent.Signal(Signals.SIGUSR2, userData: 8), (in Kevent ev) =>
        {
            seen = ev;
            thread = Environment.CurrentManagedThreadId;
            loop.Stop();
        });
        // SIGUSR2 rather than SIGHUP or SIGINT: a shell that starts a job in the background (nohup, `cmd &`) sets
        // those to "ignored", and the runtime leaves inherited ignores alone, so they would never arrive.
        loop.Post(() => Assert.Equal(0, ProcessSignals.SendToSelf(Signals.SIGUSR2)));
        RunWithLimit(loop);
        Assert.Equal((ulong)Signals.SIGUSR2, seen!.Value.Ident);
        Assert.Equal(KeventFilter.Signal, seen.Value.Filter);
        Assert.Equal(8UL, seen.Value.UserData);
        Assert.True(seen.Value.Data >= 1);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
        loop.Unregister(Signals.SIGUSR2, KeventFilter.Signal);
    }

    [Fact]
    public void SigtermStopsTheLoopInsteadOfTheProcess()
    {
        EventLoop loop = NewLoop();
        bool stopped = false;
        loop.Register(Kevent.Signal(Signals.SIGTERM), (in Kevent _) =>
        {
            stopped = true;
            loop.Stop();
        });
        loop.Post(() => ProcessSignals.SendToSelf(Signals.SIGTERM));
        RunWithLimit(loop);
        Assert.True(stopped);
        loop.Unregister(Signals.SIGTERM, KeventFilter.Signal);
    }
}
