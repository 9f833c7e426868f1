using Kevents.Hybrid.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Hybrid.Tests;

public sealed class ShutdownAndWatchdogTests : HybridTest
{
    [Fact]
    public async Task ShutdownReportsAStuckThreadletWithinTheDeadlineInsteadOfHanging()
    {
        var time = new ManualTimeProvider();
        var logs = new CapturingLoggerFactory();
        var lt = new LoopThread(new EventLoopOptions { TimeProvider = time, LoggerFactory = logs },
            new ThreadletOptions { MaxShortThreads = 1, ShutdownTimeout = TimeSpan.FromSeconds(5) });
        using var stuck = new ManualResetEventSlim();
        try
        {
            // Awaited from outside the loop: an awaiter on the loop could never resume once the loop is gone.
            Task<int> running = Task.Run(() => lt.Loop.Threadlet(async t => await t.Blocking(StuckForever(stuck))).AsTask());
            await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.ThreadsAlive(WorkClass.Short) == 1 && lt.Runtime.QueueDepth(WorkClass.Short) == 0);
            Task<int> queued = Task.Run(() => lt.Loop.Threadlet(async t => await t.Blocking(() => 2)).AsTask());
            await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.QueueDepth(WorkClass.Short) == 1);

            Task disposing = Task.Run(lt.Dispose);
            // Shutdown cancels queued work at once, before any deadline.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.False(disposing.IsCompleted);
            // Then it waits on the loop's clock: move it past the deadline until Dispose returns.
            while (!disposing.Wait(5))
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }

            ThreadletShutdownReport report = lt.Runtime.LastShutdownReport!;
            StuckThreadlet entry = Assert.Single(report.Stuck);
            Assert.Contains(nameof(StuckForever), entry.Step);
            Assert.True(entry.Running >= TimeSpan.FromSeconds(5), $"reported running {entry.Running}");
            Assert.Equal(1, report.CancelledQueued);
            Assert.Contains(nameof(ShutdownReportsAStuckThreadletWithinTheDeadlineInsteadOfHanging), entry.Kind);
            Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("still running") && l.Message.Contains(nameof(StuckForever)));
            Assert.False(running.IsCompleted);
        }
        finally
        {
            stuck.Set();
        }
    }

    [Fact]
    public async Task ShutdownWaitsForRunningThreadletsThatObserveCancellation()
    {
        var lt = new LoopThread(threadlets: new ThreadletOptions { ShutdownTimeout = TimeSpan.FromSeconds(20) });
        using var started = new ManualResetEventSlim();
        Task<int> cooperative = Task.Run(() => lt.Loop.Threadlet(async t => await t.Blocking(token =>
        {
            started.Set();
            token.WaitHandle.WaitOne(TimeSpan.FromSeconds(20));
            return token.IsCancellationRequested ? 1 : 0;
        })).AsTask());
        Assert.True(started.Wait(TimeSpan.FromSeconds(10)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        lt.Dispose();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {clock.Elapsed}");
        Assert.Empty(lt.Runtime.LastShutdownReport!.Stuck);
        Assert.Equal(0, lt.Runtime.InFlight);
        // The work saw the shutdown through its token, and its result still reached the awaiter off the loop.
        Assert.Equal(1, await cooperative.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task WatchdogNamesAHandlerThatSleeps100Ms()
    {
        var logs = new CapturingLoggerFactory();
        using var lt = new LoopThread(new EventLoopOptions { LoggerFactory = logs });
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await lt.OnLoop(() =>
        {
            lt.Loop.Register(Kevent.Timer(77, TimeSpan.FromMilliseconds(1), periodic: false), SleepyTimerHandler);
            lt.Loop.Register(Kevent.User(5), (in Kevent _) => fired.SetResult());
            return Task.FromResult(0);
        });
        // Other slow moments (a first-time JIT on a loaded CI machine) may be reported too; the sleeper must be named.
        await InlineAndOffloadTests.WaitUntil(() => logs.Lines.Any(l => l.Level == LogLevel.Warning
            && l.Message.Contains(nameof(SleepyTimerHandler)) && l.Message.Contains("Timer ident=77")));
        Assert.True(lt.Runtime.LoopBlockedReports >= 1);
    }

    [Fact]
    public async Task WatchdogMeasuresOnTheLoopsClockSoFakeTimeCanBlockAHandler()
    {
        var time = new ManualTimeProvider();
        using var lt = new LoopThread(new EventLoopOptions { TimeProvider = time });
        await lt.OnLoop(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(49));
            return Task.FromResult(0);
        });
        Assert.Equal(0, lt.Runtime.LoopBlockedReports);
        await lt.OnLoop(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(60));
            return Task.FromResult(0);
        });
        await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.LoopBlockedReports == 1);
    }

    [Fact]
    public async Task KindThatKeepsBlockingGoesStraightToAThreadAndIsRetriedLater()
    {
        var time = new ManualTimeProvider();
        using var lt = new LoopThread(new EventLoopOptions { TimeProvider = time },
            new ThreadletOptions { ColdAfterBlocks = 3, ColdRetryInterval = TimeSpan.FromSeconds(1), WatchdogThreshold = null });
        string path = TempFiles.WithContent("adaptive.bin", TempFiles.Bytes(10, seed: 7));
        var buffer = new byte[10];
        Func<Threadlet, ValueTask<bool>> kind = async t =>
        {
            bool startedInline = t.IsOnLoop;
            using ThreadletFile f = await t.OpenAsync(path);
            await t.ReadAsync(f, buffer, 0);
            return startedInline;
        };
        Task<bool> Run() => lt.OnLoop(() => lt.Loop.Threadlet(kind).AsTask());

        lt.Runtime.SimulateBlocking = SimulatedBlocking.Read;
        for (int i = 0; i < 3; i++)
        {
            Assert.True(await Run()); // tried inline, blocked, moved
        }
        Assert.Equal(KindRouter.Route.Cold, lt.Runtime.RouteOf(kind));
        Assert.False(await Run());     // cold: starts on a thread without trying

        // Later, and the data is cached again: one probe inline brings the kind back.
        lt.Runtime.SimulateBlocking = SimulatedBlocking.None;
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await Run());
        Assert.Equal(KindRouter.Route.Try, lt.Runtime.RouteOf(kind));
    }

    [Fact]
    public async Task KindThatFailsEveryRetryIsMarkedNever()
    {
        var time = new ManualTimeProvider();
        using var lt = new LoopThread(new EventLoopOptions { TimeProvider = time },
            new ThreadletOptions { ColdAfterBlocks = 1, ColdRetryInterval = TimeSpan.FromSeconds(1), WatchdogThreshold = null });
        lt.Runtime.SimulateBlocking = SimulatedBlocking.Read;
        string path = TempFiles.WithContent("never.bin", [1]);
        var buffer = new byte[1];
        Func<Threadlet, ValueTask<int>> kind = async t =>
        {
            using ThreadletFile f = await t.OpenAsync(path);
            return await t.ReadAsync(f, buffer, 0);
        };
        await lt.OnLoop(() => lt.Loop.Threadlet(kind).AsTask());
        for (int probe = 1; probe <= 3; probe++)
        {
            Assert.NotEqual(KindRouter.Route.Try, lt.Runtime.RouteOf(kind));
            time.Advance(TimeSpan.FromSeconds(1 << probe));
            await lt.OnLoop(() => lt.Loop.Threadlet(kind).AsTask());
        }
        Assert.Equal(KindRouter.Route.Never, lt.Runtime.RouteOf(kind));
    }

    private static Func<int> StuckForever(ManualResetEventSlim gate) => () =>
    {
        gate.Wait();
        return 1;
    };

    private static void SleepyTimerHandler(in Kevent kevent) => Thread.Sleep(100);
}
