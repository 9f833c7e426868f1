using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>The per-loop feature slots layers keep their state in (EventLoop.GetOrAddFeature).</summary>
public class FeatureTests : LoopTest
{
    private sealed class Counter;

    private sealed class Recorder(string name, List<string> log, Action? onDispose = null) : IDisposable
    {
        public void Dispose()
        {
            lock (log)
            {
                log.Add(name);
            }
            onDispose?.Invoke();
        }
    }

    // Distinct types, since a loop keeps one feature per type.
    private sealed class First(List<string> log, Action? onDispose = null) : IDisposable
    {
        private readonly Recorder _recorder = new("first", log, onDispose);

        public void Dispose() => _recorder.Dispose();
    }

    private sealed class Second(List<string> log) : IDisposable
    {
        private readonly Recorder _recorder = new("second", log);

        public void Dispose() => _recorder.Dispose();
    }

    private sealed class Late(List<string> log) : IDisposable
    {
        private readonly Recorder _recorder = new("late", log);

        public void Dispose() => _recorder.Dispose();
    }

    private sealed class Throwing : IDisposable
    {
        public void Dispose() => throw new InvalidOperationException("feature boom");
    }

    [Fact]
    public void FeatureIsCreatedOncePerLoopAndEachLoopHasItsOwn()
    {
        EventLoop a = NewLoop();
        EventLoop b = NewLoop();
        int created = 0;
        Counter Create(EventLoop l)
        {
            created++;
            return new Counter();
        }
        Assert.False(a.TryGetFeature(out Counter? none));
        Assert.Null(none);
        Counter first = a.GetOrAddFeature(Create);
        Counter again = a.GetOrAddFeature(Create);
        Counter other = b.GetOrAddFeature(Create);
        Assert.Same(first, again);
        Assert.NotSame(first, other);
        Assert.Equal(2, created);
        Assert.True(a.TryGetFeature(out Counter? found));
        Assert.Same(first, found);
    }

    [Fact]
    public void RacingCreatorsRunCreateOnceAndAllGetTheSameFeature()
    {
        EventLoop loop = NewLoop();
        Task running = loop.RunAsync();
        int created = 0;
        const int Racers = 4;
        using var start = new Barrier(Racers);
        Counter[] seen = new Counter[Racers];
        Thread[] threads = Enumerable.Range(0, Racers).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            seen[i] = loop.GetOrAddFeature(_ =>
            {
                Interlocked.Increment(ref created);
                Thread.Sleep(20); // hold the creation open so the other racers arrive meanwhile
                return new Counter();
            });
        })).ToArray();
        foreach (Thread t in threads)
        {
            t.Start();
        }
        foreach (Thread t in threads)
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        }
        loop.Stop();
        Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, created);
        Assert.All(seen, c => Assert.Same(seen[0], c));
    }

    [Fact]
    public void FeaturesAreDisposedWithTheLoopInCreationOrderAfterItStops()
    {
        EventLoop loop = NewLoop();
        var log = new List<string>();
        bool runningAtDispose = true;
        bool disposedFromLoopThread = true;
        loop.GetOrAddFeature(l => new First(log, () =>
        {
            runningAtDispose = l.IsRunning;
            disposedFromLoopThread = l.IsOnLoopThread;
            // Created while the loop disposes its features: disposed in the same pass, not leaked.
            l.GetOrAddFeature(_ => new Late(log));
        }));
        loop.GetOrAddFeature(_ => new Second(log));
        loop.GetOrAddFeature(_ => new Counter()); // not IDisposable: left alone
        Task running = loop.RunAsync();
        Assert.Empty(log);
        loop.Dispose();
        Assert.True(running.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(["first", "second", "late"], log);
        Assert.False(runningAtDispose);
        Assert.False(disposedFromLoopThread);
        loop.Dispose();
        Assert.Equal(3, log.Count); // once only
    }

    [Fact]
    public void FeaturesAreDisposedBeforeTheLoopDropsItsPostedWork()
    {
        // Kevents.Net relies on this: its feature delivers close notifications that are still waiting in posted work.
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        var log = new List<string>();
        bool postAccepted = false;
        loop.GetOrAddFeature(l => new First(log, () =>
        {
            l.Post(() => { });
            postAccepted = true;
        }));
        loop.Dispose();
        Assert.True(postAccepted);
        CapturingLoggerProvider.Entry dropped = Assert.Single(logs.Entries, e => e.EventId.Name == "PendingWorkDropped");
        Assert.Contains("1 posted items", dropped.Message);
    }

    [Fact]
    public void NoNewFeatureAfterTheLoopWasDisposedButExistingOnesAreStillFound()
    {
        EventLoop loop = NewLoop();
        Counter existing = loop.GetOrAddFeature(_ => new Counter());
        loop.Dispose();
        ObjectDisposedException refused = Assert.Throws<ObjectDisposedException>(() => loop.GetOrAddFeature(_ => new List<string>()));
        Assert.Contains("would never be disposed", refused.Message);
        Assert.Same(existing, loop.GetOrAddFeature(_ => new Counter()));
        Assert.True(loop.TryGetFeature(out Counter? found));
        Assert.Same(existing, found);
    }

    [Fact]
    public void CreateReturningNullIsRefusedWithAMessage()
    {
        EventLoop loop = NewLoop();
        InvalidOperationException refused = Assert.Throws<InvalidOperationException>(() => loop.GetOrAddFeature<Counter>(_ => null!));
        Assert.Contains("returned null", refused.Message);
        Assert.False(loop.TryGetFeature(out Counter? _));
    }

    [Fact]
    public void ThrowingFeatureDisposeIsLoggedAsItsOwnFailureAndTheOtherFeaturesAreDisposed()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        var log = new List<string>();
        loop.GetOrAddFeature(_ => new Throwing());
        loop.GetOrAddFeature(_ => new Second(log));
        loop.Dispose();
        Assert.Equal(["second"], log);
        CapturingLoggerProvider.Entry entry = Assert.Single(logs.Entries, e => e.Exception is InvalidOperationException);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Equal("FeatureDisposeFailed", entry.EventId.Name);
        Assert.Contains(nameof(Throwing), entry.Message);
    }
}
