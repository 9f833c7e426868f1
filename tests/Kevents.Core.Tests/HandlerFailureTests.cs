using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

public class HandlerFailureTests : LoopTest
{
    [Fact]
    public void ThrowingHandlerIsLoggedWithItsKeventAndTheLoopGoesOn()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        int after = 0;
        loop.Register(Kevent.Timer(41, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) => throw new InvalidDataException("boom"));
        loop.Register(Kevent.Timer(42, TimeSpan.FromMilliseconds(20), periodic: false), (in Kevent _) =>
        {
            after++;
            loop.Stop();
        });
        RunWithLimit(loop);
        Assert.Equal(1, after);
        CapturingLoggerProvider.Entry entry = Assert.Single(logs.Entries, e => e.Level == LogLevel.Error);
        Assert.IsType<InvalidDataException>(entry.Exception);
        Assert.Contains("Timer ident=41", entry.Message);
        Assert.Equal("HandlerFailed", entry.EventId.Name);
    }

    [Fact]
    public void ThrowingPostedWorkIsLoggedAndTheLoopGoesOn()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        loop.Post(() => throw new InvalidOperationException("posted boom"));
        loop.Post(loop.Stop);
        RunWithLimit(loop);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Exception is InvalidOperationException);
    }

    [Fact]
    public void FailingAsyncPostIsLoggedAfterItsAwait()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        loop.Post(async () =>
        {
            await Task.Yield();
            throw new TimeoutException("late boom");
        });
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(100), periodic: false), (in Kevent _) => loop.Stop());
        RunWithLimit(loop);
        SpinWait.SpinUntil(() => logs.Entries.Any(e => e.Exception is TimeoutException), TimeSpan.FromSeconds(5));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Exception is TimeoutException);
    }

    [Fact]
    public void ThrowingBlockedReportIsLoggedAsItsOwnFailureNotAsPostedWork()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        int reports = 0;
        loop.WatchHandlers(TimeSpan.FromTicks(1), (_, _, _) =>
        {
            reports++;
            throw new InvalidOperationException("report boom");
        });
        bool ran = false;
        loop.Post(() =>
        {
            Thread.Sleep(5); // longer than the 1-tick threshold on any clock
            ran = true;
        });
        loop.Post(loop.Stop);
        RunWithLimit(loop);
        Assert.True(ran);
        Assert.True(reports >= 1);
        CapturingLoggerProvider.Entry[] failures = logs.Entries.Where(e => e.Exception is InvalidOperationException).ToArray();
        Assert.NotEmpty(failures);
        Assert.All(failures, e => Assert.Equal("BlockedReportFailed", e.EventId.Name));
    }
}
