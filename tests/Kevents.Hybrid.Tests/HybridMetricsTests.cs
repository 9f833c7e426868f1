using Kevents.Tests;

namespace Kevents.Hybrid.Tests;

public sealed class HybridMetricsTests : HybridTest
{
    [Fact]
    public async Task ThreadletInstrumentsReportInlineAndOffloadedWorkPerLoop()
    {
        string name = $"metrics-hybrid-{Guid.NewGuid():N}";
        using var capture = new MeterCapture(name);
        using var lt = new LoopThread(new EventLoopOptions { Name = name });
        await lt.OnLoop(() => lt.Loop.Threadlet(t => ValueTask.FromResult(1)).AsTask());
        await lt.OnLoop(() => lt.Loop.Threadlet(async t => await t.Blocking(() => 2)).AsTask());

        capture.Collect();
        Assert.Equal(1, capture.Value("kevents.threadlets.inline"));
        Assert.Equal(1, capture.Value("kevents.threadlets.offloaded"));
        Assert.Equal(0, capture.Value("kevents.threadlets.rejected"));
        Assert.Equal(0, capture.Value("kevents.threadlets.cancelled"));
        // kevents.loop.blocked is left to the fake-clock test below: a first-time JIT on a loaded machine may hold this loop.
        Assert.Single(capture.Observed("kevents.loop.blocked"));
        Assert.True(capture.Value("kevents.threadlets.threads", "kevents.work_class", "short") >= 1);
        Assert.Equal(0, capture.Value("kevents.threadlets.threads", "kevents.work_class", "long"));
        Assert.Equal(0, capture.Value("kevents.threadlets.queue.depth", "kevents.work_class", "short"));
        Assert.Equal(0, capture.Value("kevents.threadlets.queue.depth", "kevents.work_class", "long"));
        Assert.Single(capture.Recorded("kevents.threadlets.queue.time"));

        lt.Dispose();
        capture.Collect();
        Assert.Empty(capture.Observed("kevents.threadlets.inline"));
        Assert.Empty(capture.Observed("kevents.threadlets.threads"));
    }

    [Fact]
    public async Task BlockedLoopWarningsAreCounted()
    {
        string name = $"metrics-blocked-{Guid.NewGuid():N}";
        using var capture = new MeterCapture(name);
        var logs = new CapturingLoggerFactory();
        var time = new ManualTimeProvider();
        using var lt = new LoopThread(new EventLoopOptions { Name = name, TimeProvider = time, LoggerFactory = logs });
        capture.Collect();
        Assert.Equal(0, capture.Value("kevents.loop.blocked"));

        // Posted work that "holds" the loop for 60 ms of the loop's clock, beyond the 50 ms threshold.
        await lt.OnLoop(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(60));
            return Task.FromResult(0);
        });
        await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.LoopBlockedReports == 1);
        capture.Collect();
        Assert.Equal(1, capture.Value("kevents.loop.blocked"));
    }
}
