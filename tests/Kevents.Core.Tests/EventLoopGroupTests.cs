using System.Collections.Concurrent;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>EventLoopGroup: threads and names, cross-loop posts, pinning, one-call stop and dispose, bad options.</summary>
public class EventLoopGroupTests : LoopTest
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private EventLoopGroup NewGroup(int loops, bool pin = false) =>
        Own(new EventLoopGroup(new EventLoopGroupOptions { LoopCount = loops, PinToCpus = pin, LoggerFactory = Gate.LoggerFactory }));

    [Fact]
    public async Task EachLoopRunsOnItsOwnThreadNamedAfterIt()
    {
        EventLoopGroup group = NewGroup(3);
        group.Start();
        Assert.True(group.IsRunning);
        var seen = new (string? Name, int Id, EventLoop? Current)[3];
        for (int i = 0; i < 3; i++)
        {
            int index = i;
            seen[i] = await group.Loops[i].InvokeAsync(() => (Thread.CurrentThread.Name, Environment.CurrentManagedThreadId, group.Current));
        }
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal($"kevents-loop-{i}", seen[i].Name);
            Assert.Equal($"kevents-loop-{i}", group.Loops[i].Name);
            Assert.Same(group.Loops[i], seen[i].Current);
            Assert.Equal(i, group.IndexOf(group.Loops[i]));
        }
        Assert.Equal(3, seen.Select(s => s.Id).Distinct().Count());
        Assert.Null(group.Current);
        // Round robin visits every loop once per lap.
        Assert.Equal(3, Enumerable.Range(0, 3).Select(_ => group.Next()).Distinct().Count());
    }

    [Fact]
    public async Task PostsBetweenLoopsArriveInOrderPerProducer()
    {
        const int PerProducer = 20_000;
        EventLoopGroup group = NewGroup(2);
        group.Start();
        // Every target list is touched only on its own loop's thread.
        var received = new List<(int Producer, int Seq)>[] { [], [] };
        var done = new CountdownEvent(3);
        void Produce(int producer, EventLoop target, int targetIndex)
        {
            for (int seq = 0; seq < PerProducer; seq++)
            {
                int s = seq;
                target.Post(() =>
                {
                    received[targetIndex].Add((producer, s));
                    if (s == PerProducer - 1)
                    {
                        done.Signal();
                    }
                });
            }
        }
        // Loop 0 posts to loop 1 and loop 1 to loop 0, each from its own thread, while the test thread also posts to loop 1.
        group.Loops[0].Post(() => Produce(0, group.Loops[1], 1));
        group.Loops[1].Post(() => Produce(1, group.Loops[0], 0));
        Produce(2, group.Loops[1], 1);
        Assert.True(done.Wait(Limit), "not every post arrived");
        group.Stop();
        await group.Completion.WaitAsync(Limit);

        foreach ((int producer, int target) in new[] { (0, 1), (1, 0), (2, 1) })
        {
            int[] order = received[target].Where(r => r.Producer == producer).Select(r => r.Seq).ToArray();
            Assert.Equal(Enumerable.Range(0, PerProducer), order);
        }
    }

    [Fact]
    public async Task StopEndsEveryThreadAndDisposeReleasesEveryLoop()
    {
        // The leak gate checks that every loop's epoll set and eventfd are closed after Dispose.
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory });
        group.Start();
        await Task.WhenAll(group.Loops.Select(l => l.InvokeAsync(() => 0)));
        group.Stop();
        await group.Completion.WaitAsync(Limit);
        Assert.False(group.IsRunning);
        Assert.All(group.Loops, l => Assert.False(l.IsRunning));
        group.Dispose();
        Assert.All(group.Loops, l => Assert.Throws<ObjectDisposedException>(() => l.Post(() => { })));
        group.Dispose();
    }

    [Fact]
    public void DisposeOfARunningGroupWaitsForEveryThread()
    {
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory });
        group.Start();
        group.Dispose();
        Assert.True(group.Completion.IsCompletedSuccessfully);
        Assert.Throws<ObjectDisposedException>(group.Start);
    }

    [Fact]
    public void DisposeOfAGroupThatNeverStartedCompletesIt()
    {
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory });
        group.Dispose();
        Assert.True(group.Completion.IsCompletedSuccessfully);
    }

    [Fact]
    public void StartingTwiceSaysAGroupRunsOnce()
    {
        EventLoopGroup group = NewGroup(1);
        group.Start();
        var ex = Assert.Throws<InvalidOperationException>(group.Start);
        Assert.Contains("already started", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    [InlineData(5000)]
    public void ABadLoopCountIsRefusedByName(int loops)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new EventLoopGroup(new EventLoopGroupOptions { LoopCount = loops }));
        Assert.Equal("LoopCount", ex.ParamName);
        Assert.Contains("EventLoopGroupOptions.LoopCount", ex.Message);
    }

    [Fact]
    public void ABadLoopOptionIsRefusedByNameAndNoLoopIsLeft()
    {
        // Loop 1's options are bad: loop 0, already created, must be disposed (the gate counts its descriptors).
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new EventLoopGroup(new EventLoopGroupOptions
        {
            LoopCount = 2,
            ConfigureLoop = (i, o) => o.RingCapacity = i == 1 ? 0 : 64,
        }));
        Assert.Equal("RingCapacity", ex.ParamName);
    }

    [Fact]
    public void TheDefaultIsOneLoopPerProcessor()
    {
        Assert.Equal(Environment.ProcessorCount, new EventLoopGroupOptions().LoopCount);
        EventLoopGroup group = Own(new EventLoopGroup(new EventLoopGroupOptions { LoggerFactory = Gate.LoggerFactory }));
        Assert.Equal(Environment.ProcessorCount, group.Count);
        Assert.All(Enumerable.Range(0, group.Count), i => Assert.Equal(-1, group.GetPinnedCpu(i)));
    }

    [Fact]
    public async Task PinnedLoopsRunOnTheirCpus()
    {
        int[] allowed = CpuAffinity.AllowedCpus();
        Assert.NotEmpty(allowed);
        EventLoopGroup group = NewGroup(allowed.Length, pin: true);
        group.Start();
        for (int i = 0; i < group.Count; i++)
        {
            Assert.Equal(allowed[i], group.GetPinnedCpu(i));
            // The pin is the first posted work of each loop, so anything posted later runs pinned.
            int cpu = await group.Loops[i].InvokeAsync(CpuAffinity.CurrentCpu);
            Assert.Equal(allowed[i], cpu);
        }
        Assert.DoesNotContain(Gate.Logs.Entries, e => e.EventId.Name == "AffinityFailed");
    }

    [Fact]
    public async Task ALoopThreadThatFailsIsLoggedAndFaultsCompletion()
    {
        Gate.Expect(e => e.EventId.Name == "GroupLoopFailed");
        EventLoopGroup group = NewGroup(2);
        group.RunLoop = loop => loop == group.Loops[1]
            ? Task.Run(() => throw new InvalidOperationException("broken loop"))
            : loop.RunAsync();
        group.Start();
        await Task.Delay(50);
        Assert.True(group.Loops[0].IsRunning, "the other loop keeps running");
        group.Stop();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => group.Completion.WaitAsync(Limit));
        Assert.Equal("broken loop", ex.Message);
        Assert.Contains(Gate.Logs.Entries, e => e.Level == LogLevel.Critical && e.EventId.Name == "GroupLoopFailed" && e.Message.Contains("kevents-loop-1"));
    }
}
