using System.Diagnostics.Metrics;
using Kevents.Internal;

namespace Kevents.Tests;

public class MetricsTests : LoopTest
{
    private static string UniqueName(string what) => $"{what}-{Guid.NewGuid():N}";

    [Fact]
    public void EveryLoopInstrumentIsPublishedUnderItsNameAndMovesWithTheLoop()
    {
        string name = UniqueName("metrics-core");
        using var capture = new MeterCapture(name);
        EventLoop loop = NewLoop(new EventLoopOptions { Name = name });
        int users = 0;
        for (ulong i = 0; i < 3; i++)
        {
            loop.Register(Kevent.Timer(i, TimeSpan.FromMilliseconds(1)), (in Kevent _) => { });
        }
        loop.Register(Kevent.User(50), (in Kevent _) =>
        {
            if (++users == 3)
            {
                loop.Stop();
            }
            else
            {
                loop.Trigger(50);
            }
        });
        loop.Register(Kevent.Timer(99, TimeSpan.FromMilliseconds(30)), (in Kevent _) => loop.Trigger(50));
        loop.Post(() => { });
        RunWithLimit(loop);

        capture.Collect();
        Assert.Equal(4, capture.Value("kevents.loop.kevents", "kevents.filter", "timer"));
        Assert.Equal(3, capture.Value("kevents.loop.kevents", "kevents.filter", "user"));
        Assert.Equal(0, capture.Value("kevents.loop.kevents", "kevents.filter", "read"));
        Assert.True(capture.Value("kevents.loop.timers.armed") >= 5);
        Assert.Equal(4, capture.Value("kevents.loop.timers.fired"));
        Assert.Equal(0, capture.Value("kevents.loop.timers.active"));
        Assert.True(capture.Value("kevents.loop.posted") >= 1);
        Assert.Equal(0, capture.Value("kevents.loop.posted.depth"));
        Assert.True(capture.Value("kevents.loop.iterations") >= 1);
        Assert.True(capture.Value("kevents.loop.busy_time") > 0);
        double ratio = capture.Value("kevents.loop.busy_ratio");
        Assert.InRange(ratio, 0, 1);
        Assert.Equal(0, capture.Value("kevents.loop.ring.overflows"));
        Assert.Equal(0, capture.Value("kevents.loop.handler.errors"));

        // Each user kevent came through the completion ring, so each turn that dispatched one took a lag sample.
        List<double> lag = capture.Recorded("kevents.loop.lag");
        Assert.InRange(lag.Count, 3, int.MaxValue);
        Assert.All(lag, seconds => Assert.InRange(seconds, 0, 10));

        Assert.Equal("s", capture.Instrument("kevents.loop.lag").Unit);
        Assert.IsType<Histogram<double>>(capture.Instrument("kevents.loop.lag"));
        Assert.IsType<ObservableGauge<double>>(capture.Instrument("kevents.loop.busy_ratio"));
        Assert.IsType<ObservableUpDownCounter<long>>(capture.Instrument("kevents.loop.posted.depth"));
        Assert.Same(KeventsMeter.Meter, capture.Instrument("kevents.loop.kevents").Meter);
    }

    [Fact]
    public void PostedDepthAndActiveTimersReportWorkWaitingForTheLoop()
    {
        string name = UniqueName("metrics-depth");
        using var capture = new MeterCapture(name);
        EventLoop loop = NewLoop(new EventLoopOptions { Name = name });
        for (int i = 0; i < 5; i++)
        {
            loop.Post(() => { });
        }
        loop.Register(Kevent.Timer(1, TimeSpan.FromHours(1)), (in Kevent _) => { });
        loop.Register(Kevent.Timer(2, TimeSpan.FromHours(1)), (in Kevent _) => { });

        capture.Collect();
        Assert.Equal(5, capture.Value("kevents.loop.posted.depth"));
        Assert.Equal(2, capture.Value("kevents.loop.timers.active"));

        loop.Post(loop.Stop);
        RunWithLimit(loop);
        loop.Unregister(1, KeventFilter.Timer);
        capture.Collect();
        Assert.Equal(0, capture.Value("kevents.loop.posted.depth"));
        Assert.Equal(1, capture.Value("kevents.loop.timers.active"));
    }

    [Fact]
    public void BusyRatioIsHighWhileHandlersHoldTheLoopAndLowWhileItSleeps()
    {
        string name = UniqueName("metrics-busy");
        using var capture = new MeterCapture(name);
        EventLoop loop = NewLoop(new EventLoopOptions { Name = name });
        // Busy: posted work that spins 1.3 s, spanning a window roll; measured at once, before the loop sleeps.
        loop.Post(() =>
        {
            var spin = System.Diagnostics.Stopwatch.StartNew();
            while (spin.ElapsedMilliseconds < 1300)
            {
            }
        });
        loop.Post(() => loop.Post(() => loop.Post(loop.Stop)));
        RunWithLimit(loop);
        capture.Collect();
        Assert.InRange(capture.Value("kevents.loop.busy_ratio"), 0.25, 1);

        // Idle: a loop that sleeps in epoll_wait for 1.2 s counts that as idle time.
        loop.Register(Kevent.Timer(7, TimeSpan.FromMilliseconds(1200)), (in Kevent _) => loop.Stop());
        RunWithLimit(loop);
        loop.Register(Kevent.Timer(8, TimeSpan.FromMilliseconds(1200)), (in Kevent _) => loop.Stop());
        RunWithLimit(loop);
        capture.Collect();
        Assert.InRange(capture.Value("kevents.loop.busy_ratio"), 0, 0.5);
    }

    [Fact]
    public void ADisposedLoopIsNoLongerReportedNorHeld()
    {
        string name = UniqueName("metrics-dispose");
        using var capture = new MeterCapture(name);
        var loop = new EventLoop(new EventLoopOptions { Name = name });
        Assert.Contains(loop, KeventsMeter.LiveLoops());
        capture.Collect();
        Assert.Single(capture.Observed("kevents.loop.iterations"));

        loop.Dispose();
        Assert.DoesNotContain(loop, KeventsMeter.LiveLoops());
        capture.Collect();
        Assert.Empty(capture.Observed("kevents.loop.iterations"));
        Assert.Empty(capture.Observed("kevents.loop.kevents"));
    }

    [Fact]
    public void ALoopDroppedWithoutDisposeIsHeldOnlyWeakly()
    {
        WeakReference weak = CreateAndDropLoop();
        for (int i = 0; i < 5 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(weak.IsAlive, "the meter's registry kept an undisposed, unreferenced loop alive");
        Assert.DoesNotContain(KeventsMeter.LiveLoops(), l => l.Name == "metrics-dropped");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference CreateAndDropLoop()
    {
        // Its epoll and eventfd descriptors are closed by their finalizers, which the collection above runs.
        var loop = new EventLoop(new EventLoopOptions { Name = "metrics-dropped" });
        return new WeakReference(loop);
    }

    [Fact]
    public void UnnamedLoopsAreNumberedProcessWide()
    {
        Assert.Null(new EventLoopOptions().Name);
        EventLoop first = NewLoop();
        EventLoop second = NewLoop(new EventLoopOptions());
        Assert.Matches(@"^kevents-loop-\d+$", first.Name);
        Assert.Matches(@"^kevents-loop-\d+$", second.Name);
        Assert.NotEqual(first.Name, second.Name);
        Assert.Equal("named", NewLoop(new EventLoopOptions { Name = "named" }).Name);
    }
}
