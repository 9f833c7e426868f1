using System.Collections.Concurrent;

namespace Kevents.Tests;

public class CrossThreadTests : LoopTest
{
    [Fact]
    public void PostFromEightThreadsDeliversEachItemOnceInPerThreadOrder()
    {
        const int Threads = 8;
        const int PerThread = 100_000;
        EventLoop loop = NewLoop();
        var next = new int[Threads];
        int total = 0;
        var errors = new ConcurrentQueue<string>();
        var start = new Barrier(Threads);
        Action<object?> onItem = state =>
        {
            var (thread, seq) = ((int, int))state!;
            if (next[thread] != seq)
            {
                errors.Enqueue($"thread {thread}: expected {next[thread]}, got {seq}");
            }
            next[thread] = seq + 1;
            if (++total == Threads * PerThread)
            {
                loop.Stop();
            }
        };
        var producers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < PerThread; i++)
            {
                loop.Post(onItem, (t, i));
            }
        })).ToList();
        producers.ForEach(p => p.Start());
        RunWithLimit(loop, TimeSpan.FromSeconds(60));
        producers.ForEach(p => p.Join());
        Assert.Empty(errors);
        Assert.All(next, n => Assert.Equal(PerThread, n));
        Assert.Equal(Threads * PerThread, total);
    }

    [Fact]
    public void PostWakesASleepingLoop()
    {
        EventLoop loop = NewLoop();
        bool ran = false;
        var poster = new Thread(() =>
        {
            Thread.Sleep(50);
            loop.Post(() =>
            {
                ran = true;
                loop.Stop();
            });
        });
        poster.Start();
        RunWithLimit(loop);
        poster.Join();
        Assert.True(ran);
    }

    [Fact]
    public void PostedWorkRunsOnTheLoopThread()
    {
        EventLoop loop = NewLoop();
        int loopThread = -1, ranOn = -2;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) => loopThread = Environment.CurrentManagedThreadId);
        ThreadPool.QueueUserWorkItem(_ =>
        {
            Thread.Sleep(20);
            loop.Post(() =>
            {
                ranOn = Environment.CurrentManagedThreadId;
                loop.Stop();
            });
        });
        RunWithLimit(loop);
        Assert.Equal(Environment.CurrentManagedThreadId, loopThread);
        Assert.Equal(loopThread, ranOn);
    }

    [Fact]
    public void PostedWorkIsBoundedPerIteration()
    {
        EventLoop loop = NewLoop(new EventLoopOptions { MaxPostedPerIteration = 10 });
        long startIterations = 0;
        int ran = 0;
        for (int i = 0; i < 100; i++)
        {
            loop.Post(() =>
            {
                if (ran++ == 0)
                {
                    startIterations = loop.Iterations;
                }
                if (ran == 100)
                {
                    loop.Stop();
                }
            });
        }
        RunWithLimit(loop);
        Assert.True(loop.Iterations - startIterations >= 9, $"100 items ran in {loop.Iterations - startIterations + 1} turns");
    }

    [Fact]
    public void TriggersBeforeDeliveryCoalesceIntoOne()
    {
        EventLoop loop = NewLoop();
        int deliveries = 0;
        loop.Register(Kevent.User(9, userData: 3), (in Kevent ev) =>
        {
            Assert.Equal(3UL, ev.UserData);
            deliveries++;
        });
        for (int i = 0; i < 1000; i++)
        {
            Assert.True(loop.Trigger(9));
        }
        RunFor(loop, TimeSpan.FromMilliseconds(30));
        Assert.Equal(1, deliveries);

        Assert.True(loop.Trigger(9));
        RunFor(loop, TimeSpan.FromMilliseconds(30));
        Assert.Equal(2, deliveries);
    }

    [Fact]
    public void TriggerFromAnotherThreadWakesTheLoop()
    {
        EventLoop loop = NewLoop();
        loop.Register(Kevent.User(1), (in Kevent _) => loop.Stop());
        var t = new Thread(() =>
        {
            Thread.Sleep(30);
            loop.Trigger(1);
        });
        t.Start();
        RunWithLimit(loop);
        t.Join();
    }

    [Fact]
    public void TriggerOfUnknownIdentReturnsFalse()
    {
        EventLoop loop = NewLoop();
        Assert.False(loop.Trigger(12345));
        loop.Register(Kevent.User(12345), (in Kevent _) => { });
        Assert.True(loop.Trigger(12345));
        loop.Unregister(12345, KeventFilter.User);
        Assert.False(loop.Trigger(12345));
    }

    [Fact]
    public void TriggerAfterUnregisterIsNotDelivered()
    {
        EventLoop loop = NewLoop();
        int deliveries = 0;
        loop.Register(Kevent.User(1), (in Kevent _) => deliveries++);
        loop.Trigger(1);
        loop.Unregister(1, KeventFilter.User);
        loop.Register(Kevent.User(1), (in Kevent _) => deliveries += 100);
        RunFor(loop, TimeSpan.FromMilliseconds(30));
        Assert.Equal(0, deliveries);
    }

    [Fact]
    public void StopFromAnotherThreadEndsRun()
    {
        EventLoop loop = NewLoop();
        var stopper = new Thread(() =>
        {
            Thread.Sleep(50);
            loop.Stop();
        });
        stopper.Start();
        var done = Task.Run(loop.Run);
        Assert.True(done.Wait(TimeSpan.FromSeconds(10)), "Run did not return after Stop from another thread");
        stopper.Join();
    }

    [Fact]
    public async Task RunAsyncStopsWhenCancelled()
    {
        EventLoop loop = NewLoop();
        using var cts = new CancellationTokenSource();
        Task running = loop.RunAsync(cts.Token);
        await Task.Delay(20);
        Assert.True(loop.IsRunning);
        cts.Cancel();
        await running.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(loop.IsRunning);
    }

    [Fact]
    public void LoopThreadMemberFromOtherThreadSaysToUsePost()
    {
        EventLoop loop = NewLoop();
        Task running = loop.RunAsync();
        SpinWait.SpinUntil(() => loop.IsRunning, TimeSpan.FromSeconds(5));
        var ex = Assert.Throws<InvalidOperationException>(() => loop.Register(Kevent.User(1), (in Kevent _) => { }));
        Assert.Contains("Post", ex.Message);
        Assert.Contains("loop thread", ex.Message);
        loop.Stop();
        Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void RunAsyncOwnsTheLoopBeforeItsThreadIsScheduled()
    {
        // No waiting for IsRunning: the moment RunAsync returns, the caller is "another thread". (A connect started
        // right after RunAsync once raced the new thread into Register and failed.)
        for (int i = 0; i < 20; i++)
        {
            using var loop = new EventLoop(WithBackend());
            Task running = loop.RunAsync();
            Assert.True(loop.IsRunning);
            Assert.False(loop.IsOnLoopThread);
            Assert.Throws<InvalidOperationException>(() => loop.Register(Kevent.User(1), (in Kevent _) => { }));
            Assert.Throws<InvalidOperationException>(() => { _ = loop.RunAsync(); });
            loop.Stop();
            Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public void RunTwiceAtOnceThrowsClearly()
    {
        EventLoop loop = NewLoop();
        Task running = loop.RunAsync();
        SpinWait.SpinUntil(() => loop.IsRunning, TimeSpan.FromSeconds(5));
        var ex = Assert.Throws<InvalidOperationException>(loop.Run);
        Assert.Contains("already running", ex.Message);
        loop.Stop();
        Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void DisposingARunningLoopStopsItAndReleasesItsDescriptors()
    {
        int baseline = TestUtil.OpenFdCount();
        var loop = new EventLoop(WithBackend());
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(5), periodic: true), (in Kevent _) => { });
        Task running = loop.RunAsync();
        SpinWait.SpinUntil(() => loop.IsRunning, TimeSpan.FromSeconds(5));
        loop.Dispose();
        Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
        Assert.False(loop.IsRunning);
        TestUtil.AssertFdCountReturnsTo(baseline);
        Assert.Throws<ObjectDisposedException>(loop.Run);
        Assert.Throws<ObjectDisposedException>(() => loop.Post(() => { }));
        loop.Dispose();
    }

    [Fact]
    public void DisposeFromInsideAHandlerReleasesWhenTheTurnEnds()
    {
        int baseline = TestUtil.OpenFdCount();
        var loop = new EventLoop(WithBackend());
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) => loop.Dispose());
        loop.Run();
        TestUtil.AssertFdCountReturnsTo(baseline);
        Assert.Throws<ObjectDisposedException>(() => loop.Register(Kevent.User(1), (in Kevent _) => { }));
    }

    [Fact]
    public void CompletionRingOverflowLosesNothing()
    {
        // A tiny ring forces most completions through the overflow list while the loop is busy.
        EventLoop loop = NewLoop(new EventLoopOptions { RingCapacity = 4 });
        const int Producers = 4;
        const int PerProducer = 20_000;
        var seen = new int[Producers * PerProducer];
        int received = 0;
        loop.SetFilterHandler(KeventFilter.Aio, (in Kevent ev) =>
        {
            seen[ev.Ident]++;
            if (++received == Producers * PerProducer)
            {
                loop.Stop();
            }
        });
        var threads = Enumerable.Range(0, Producers).Select(p => new Thread(() =>
        {
            for (int i = 0; i < PerProducer; i++)
            {
                loop.Complete(new Kevent((ulong)(p * PerProducer + i), KeventFilter.Aio, data: i));
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        RunWithLimit(loop, TimeSpan.FromSeconds(60));
        threads.ForEach(t => t.Join());
        Assert.All(seen, count => Assert.Equal(1, count));
        Assert.True(loop.RingOverflows > 0, "the tiny ring never overflowed, so the test proved nothing");
    }

    [Fact]
    public void CompletionGoesToItsRegistrationBeforeTheFilterHandler()
    {
        EventLoop loop = NewLoop();
        ulong byRegistration = 0, byFilter = 0;
        loop.Register(new Kevent(5, KeventFilter.Threadlet, KeventFlags.Oneshot), (in Kevent ev) => byRegistration = ev.Ident);
        loop.SetFilterHandler(KeventFilter.Threadlet, (in Kevent ev) =>
        {
            byFilter = ev.Ident;
            loop.Stop();
        });
        loop.Complete(new Kevent(5, KeventFilter.Threadlet, data: 1));
        loop.Complete(new Kevent(6, KeventFilter.Threadlet, data: 1));
        RunWithLimit(loop);
        Assert.Equal(5UL, byRegistration);
        Assert.Equal(6UL, byFilter);
    }
}
