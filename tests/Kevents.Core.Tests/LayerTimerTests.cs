namespace Kevents.Tests;

/// <summary>The timers and thread check layers use (EventLoop.StartTimer/StopTimer, VerifyAccess).</summary>
public class LayerTimerTests : LoopTest
{
    private sealed class Target(Action onTimer) : ILoopTimerTarget
    {
        public int Fired;

        public void OnTimer()
        {
            Fired++;
            onTimer();
        }
    }

    [Fact]
    public void LayerTimerFiresOnceOnTheLoopThreadNoEarlierThanItsDelay()
    {
        EventLoop loop = NewLoop();
        bool onLoopThread = false;
        long firedAt = 0;
        Target? target = null;
        target = new Target(() =>
        {
            onLoopThread = loop.IsOnLoopThread;
            firedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            loop.Stop();
        });
        // Stopwatch reads CLOCK_MONOTONIC, as the loop does; Environment.TickCount64 is the coarse clock (a jiffy,
        // up to 4 ms, behind), which made an on-time timer look early.
        long startedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        LoopTimer timer = loop.StartTimer(TimeSpan.FromMilliseconds(30), target);
        Assert.False(timer.IsNone);
        RunWithLimit(loop);
        Assert.Equal(1, target.Fired);
        Assert.True(onLoopThread);
        TimeSpan waited = System.Diagnostics.Stopwatch.GetElapsedTime(startedAt, firedAt);
        Assert.True(waited >= TimeSpan.FromMilliseconds(30), $"fired after {waited.TotalMilliseconds:F3} ms");
        // Stopping a timer that already fired is harmless and resets the handle.
        loop.StopTimer(ref timer);
        Assert.True(timer.IsNone);
    }

    [Fact]
    public void StoppedLayerTimerNeverFiresAndAStaleHandleDoesNotStopItsSlotsNextTimer()
    {
        EventLoop loop = NewLoop();
        var stopped = new Target(() => { });
        var next = new Target(loop.Stop);
        LoopTimer first = loop.StartTimer(TimeSpan.FromMilliseconds(1), stopped);
        LoopTimer stale = first;
        loop.StopTimer(ref first);
        Assert.True(first.IsNone);
        // The freed slot is reused by the next timer; the stale copy of the first handle must not stop it.
        LoopTimer second = loop.StartTimer(TimeSpan.FromMilliseconds(20), next);
        Assert.NotEqual(stale, second);
        loop.StopTimer(ref stale);
        RunWithLimit(loop);
        Assert.Equal(0, stopped.Fired);
        Assert.Equal(1, next.Fired);
    }

    [Fact]
    public void StartingAndStoppingLayerTimersAllocatesNothingOnceWarm()
    {
        // Kevents.Net arms one such timer per connection and re-arms it on activity: the path must stay allocation-free.
        EventLoop loop = NewLoop();
        var target = new Target(() => { });
        var timers = new LoopTimer[64];
        void Cycle()
        {
            for (int i = 0; i < timers.Length; i++)
            {
                timers[i] = loop.StartTimer(1_000_000_000L + i, target);
            }
            for (int i = 0; i < timers.Length; i++)
            {
                loop.StopTimer(ref timers[i]);
            }
        }
        Cycle(); // grows the slot arrays and the wheel's slab once
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 10; round++)
        {
            Cycle();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.All(timers, t => Assert.True(t.IsNone));
    }

    [Fact]
    public void LayerTimerAndVerifyAccessRefuseAnotherThreadWhileTheLoopRuns()
    {
        EventLoop loop = NewLoop();
        Task running = loop.RunAsync();
        try
        {
            InvalidOperationException verify = Assert.Throws<InvalidOperationException>(() => loop.VerifyAccess("Listen"));
            Assert.StartsWith("EventLoop.Listen must be called on the loop thread", verify.Message);
            Assert.Contains("loop.Post", verify.Message);
            InvalidOperationException start = Assert.Throws<InvalidOperationException>(() => loop.StartTimer(TimeSpan.FromSeconds(1), new Target(() => { })));
            Assert.StartsWith("EventLoop.StartTimer must be called on the loop thread", start.Message);
            Assert.False(loop.IsOnLoopThread);
            Assert.True(loop.InvokeAsync(() =>
            {
                loop.VerifyAccess("Listen"); // fine on the loop thread
                return true;
            }).Wait(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            loop.Stop();
            Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
        }
        loop.VerifyAccess("Listen"); // fine while the loop is not running
        loop.Dispose();
        Assert.Throws<ObjectDisposedException>(() => loop.VerifyAccess("Listen"));
    }
}
