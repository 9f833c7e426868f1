using System.Diagnostics;

namespace Kevents.Tests;

public class TimerTests : LoopTest
{
    [Fact]
    public void OneShotTimerNeverFiresEarly()
    {
        EventLoop loop = NewLoop();
        var sw = Stopwatch.StartNew();
        TimeSpan firedAt = TimeSpan.Zero;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(30), periodic: false), (in Kevent ev) =>
        {
            firedAt = sw.Elapsed;
            loop.Stop();
        });
        RunWithLimit(loop);
        Assert.True(firedAt >= TimeSpan.FromMilliseconds(30), $"fired after {firedAt.TotalMilliseconds} ms");
        Assert.True(firedAt < TimeSpan.FromSeconds(5));
        Assert.False(loop.IsRegistered(1, KeventFilter.Timer));
    }

    [Fact]
    public void ManyTimersNeverFireBeforeTheirDeadlines()
    {
        EventLoop loop = NewLoop();
        var sw = Stopwatch.StartNew();
        var rng = new Random(12345);
        int remaining = 200;
        var early = new List<string>();
        for (ulong i = 0; i < 200; i++)
        {
            var due = TimeSpan.FromMilliseconds(rng.Next(0, 120) + rng.NextDouble());
            TimeSpan armedAt = sw.Elapsed;
            loop.Register(Kevent.Timer(i, due, periodic: false), (in Kevent ev) =>
            {
                TimeSpan elapsed = sw.Elapsed - armedAt;
                if (elapsed < due)
                {
                    early.Add($"timer {ev.Ident}: {elapsed.TotalMilliseconds} < {due.TotalMilliseconds}");
                }
                if (--remaining == 0)
                {
                    loop.Stop();
                }
            });
        }
        RunWithLimit(loop);
        Assert.Empty(early);
    }

    [Fact]
    public void TimersDueAtSameTickFireInArmOrder()
    {
        EventLoop loop = NewLoop();
        var order = new List<ulong>();
        // Arm A,B then C,D in the reverse ident order, all with the same deadline (libuv timer_order).
        foreach (ulong id in new ulong[] { 10, 11, 3, 2 })
        {
            loop.Register(Kevent.Timer(id, TimeSpan.FromMilliseconds(20), periodic: false), (in Kevent ev) =>
            {
                order.Add(ev.Ident);
                if (order.Count == 4)
                {
                    loop.Stop();
                }
            });
        }
        RunWithLimit(loop);
        Assert.Equal(new ulong[] { 10, 11, 3, 2 }, order);
    }

    [Fact]
    public void CancelBeforeExpiryNeverFires()
    {
        EventLoop loop = NewLoop();
        int fired = 0;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(20), periodic: false), (in Kevent _) => fired++);
        Assert.True(loop.Unregister(1, KeventFilter.Timer));
        RunFor(loop, TimeSpan.FromMilliseconds(80));
        Assert.Equal(0, fired);
    }

    [Fact]
    public void TimerCancelledByEarlierHandlerInSameTickNeverFires()
    {
        EventLoop loop = NewLoop();
        int secondFired = 0;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(10), periodic: false), (in Kevent _) => loop.Unregister(2, KeventFilter.Timer));
        loop.Register(Kevent.Timer(2, TimeSpan.FromMilliseconds(10), periodic: false), (in Kevent _) => secondFired++);
        RunFor(loop, TimeSpan.FromMilliseconds(60));
        Assert.Equal(0, secondFired);
    }

    [Fact]
    public void HundredThousandTimersArmedAndCancelledLeaveNothingBehind()
    {
        EventLoop loop = NewLoop();
        int fired = 0;
        KeventHandler handler = (in Kevent _) => fired++;
        for (ulong i = 0; i < 100_000; i++)
        {
            loop.Register(Kevent.Timer(i, TimeSpan.FromMilliseconds(1 + (long)(i % 50)), periodic: false), handler);
        }
        for (ulong i = 0; i < 100_000; i++)
        {
            Assert.True(loop.Unregister(i, KeventFilter.Timer));
        }
        RunFor(loop, TimeSpan.FromMilliseconds(80));
        Assert.Equal(0, fired);
        Assert.False(loop.IsRegistered(5, KeventFilter.Timer));
    }

    [Fact]
    public void PeriodicTimerFiresRepeatedly()
    {
        EventLoop loop = NewLoop();
        var sw = Stopwatch.StartNew();
        int count = 0;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(10), periodic: true), (in Kevent ev) =>
        {
            Assert.True(ev.Data >= 1);
            count += (int)ev.Data;
            if (count >= 5)
            {
                loop.Stop();
            }
        });
        RunWithLimit(loop);
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(50), $"5 periods of 10 ms took {sw.Elapsed.TotalMilliseconds} ms");
        Assert.True(loop.IsRegistered(1, KeventFilter.Timer));
    }

    [Fact]
    public void PeriodicTimerBehindScheduleFiresOnceWithExpirationCount()
    {
        EventLoop loop = NewLoop();
        var deliveries = new List<long>();
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(10), periodic: true), (in Kevent ev) =>
        {
            deliveries.Add(ev.Data);
            if (deliveries.Count == 1)
            {
                // Block the loop for about 10 periods.
                Thread.Sleep(105);
            }
            else if (deliveries.Count == 2)
            {
                loop.Stop();
            }
        });
        RunWithLimit(loop);
        // No burst of catch-up deliveries: the second delivery reports the periods that elapsed while blocked.
        Assert.True(deliveries[0] >= 1);
        Assert.True(deliveries[1] >= 9, $"second delivery reported {deliveries[1]} expirations");
    }

    [Fact]
    public void ReregisteringTimerRestartsItWithNewInterval()
    {
        EventLoop loop = NewLoop();
        var sw = Stopwatch.StartNew();
        TimeSpan firedAt = TimeSpan.Zero;
        int fired = 0;
        KeventHandler handler = (in Kevent _) =>
        {
            fired++;
            firedAt = sw.Elapsed;
            loop.Stop();
        };
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(5), periodic: false), handler);
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(60), periodic: false), handler);
        RunWithLimit(loop);
        Assert.Equal(1, fired);
        Assert.True(firedAt >= TimeSpan.FromMilliseconds(60));
    }

    [Fact]
    public void DisabledTimerDoesNotFireAndEnableRestartsIt()
    {
        EventLoop loop = NewLoop();
        int fired = 0;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(10), periodic: true), (in Kevent _) => fired++);
        loop.Disable(1, KeventFilter.Timer);
        RunFor(loop, TimeSpan.FromMilliseconds(60));
        Assert.Equal(0, fired);
        loop.Enable(1, KeventFilter.Timer);
        RunFor(loop, TimeSpan.FromMilliseconds(60));
        Assert.True(fired >= 1);
    }

    [Fact]
    public void TimerThatRearmsItselfWithZeroDelayDoesNotStarveThePoller()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int rearms = 0;
        bool readSeen = false;
        KeventHandler rearm = null!;
        rearm = (in Kevent _) =>
        {
            rearms++;
            if (readSeen && rearms >= 3)
            {
                loop.Stop();
                return;
            }
            loop.Register(Kevent.Timer(1, TimeSpan.Zero, periodic: false), rearm);
        };
        loop.Register(Kevent.Timer(1, TimeSpan.Zero, periodic: false), rearm);
        loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Oneshot), (in Kevent _) => readSeen = true);
        WriteByte(a);
        // If re-arming starved the poller, the read would never be seen and the guard timer would fail the test.
        RunWithLimit(loop);
        Assert.True(readSeen);
        Assert.True(rearms >= 3);
    }

    [Fact]
    public void MillisecondPeriodicTimerKeepsItsRateAndCountsEveryExpiration()
    {
        EventLoop loop = NewLoop();
        var sw = Stopwatch.StartNew();
        long expirations = 0;
        int deliveries = 0;
        long elapsedMs = 0;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: true), (in Kevent ev) =>
        {
            deliveries++;
            expirations += ev.Data;
            elapsedMs = sw.ElapsedMilliseconds;
            if (elapsedMs >= 300)
            {
                loop.Stop();
            }
        });
        RunWithLimit(loop);
        // Every elapsed period is accounted for (late ones merged into Data), never more than elapsed.
        Assert.True(expirations >= elapsedMs - 25 && expirations <= elapsedMs + 2, $"{expirations} expirations in {elapsedMs} ms");
        // The loop sleeps until the tick itself, not a whole millisecond past it, so most periods get their own
        // delivery; rounding the wait up to milliseconds would merge about every second one (the bound leaves room for
        // a loaded machine).
        Assert.True(deliveries >= expirations / 3, $"{deliveries} deliveries for {expirations} expirations");
    }
}
