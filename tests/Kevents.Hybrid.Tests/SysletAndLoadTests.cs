using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using CsCheck;

namespace Kevents.Hybrid.Tests;

public sealed class SysletAndLoadTests : HybridTest
{
    [Fact]
    public async Task SysletChainStopsAtTheFailingStepAndClosesItsFile()
    {
        using var lt = new LoopThread();
        var buffer = new byte[16];
        // A directory opens and stats fine, but reading it fails (EISDIR): the chain stops at step 2.
        SysletResult result = await lt.OnLoop(() => lt.Loop.RunSyslet(Syslet.Open(TempFiles.Directory).Stat().Read(buffer).Close()).AsTask());
        Assert.False(result.Succeeded);
        Assert.Equal(2, result.FailedStep);
        Assert.Equal(2, result.StepsCompleted);
        Assert.True(result.Status.IsDirectory);
        Assert.Contains(TempFiles.Directory, Assert.IsType<IOException>(result.Error).Message);

        SysletResult missing = await lt.OnLoop(() => lt.Loop.RunSyslet(Syslet.Open("/nonexistent-kevents/x").Stat().Read(buffer)).AsTask());
        Assert.Equal(0, missing.FailedStep);
        Assert.IsType<FileNotFoundException>(missing.Error);
    }

    [Fact]
    public async Task SysletChainRunsInlineUntilAStepWouldBlockThenFinishesOnAThreadWithOneCompletion()
    {
        byte[] content = TempFiles.Bytes(4096, seed: 11);
        string path = TempFiles.WithContent("chain.bin", content);
        using var lt = new LoopThread();
        var buffer = new byte[4096];
        Syslet chain = Syslet.Open(path).Stat().Read(buffer).Close();

        SysletResult cached = await lt.OnLoop(() => lt.Loop.RunSyslet(chain).AsTask());
        Assert.True(cached.Succeeded);
        Assert.Equal(1, lt.Runtime.InlineCompletions);

        lt.Runtime.SimulateBlocking = SimulatedBlocking.Read;
        Array.Clear(buffer);
        SysletResult offloaded = await lt.OnLoop(() => lt.Loop.RunSyslet(chain).AsTask());
        Assert.True(offloaded.Succeeded);
        Assert.Equal(4096, offloaded.BytesRead);
        Assert.Equal(4096, offloaded.Status.Length);
        Assert.Equal(content, buffer);
        Assert.Equal(1, lt.Runtime.Offloaded);

        var got = new TaskCompletionSource<Kevent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await lt.OnLoop(() => Task.FromResult(lt.Loop.SubmitSyslet(chain, userData: 3, handler: (in Kevent k) => got.TrySetResult(k))));
        Kevent kevent = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4096, kevent.Data);
        Assert.Equal(3UL, kevent.UserData);
    }

    [Fact]
    public void EachCompletionIsDeliveredExactlyOnceUnderConcurrentLoad()
    {
        string path = TempFiles.WithContent("load.bin", TempFiles.Bytes(512, seed: 12));
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 4, QueueFullPolicy = QueueFullPolicy.Wait });

        // Each plan is a list of threadlets started from several threads at once: inline reads, offloaded reads,
        // blocking work, failures and cancellations, awaited and in kevent form.
        Gen.Int[0, 5].Array[20, 60].Sample(plan =>
        {
            var deliveries = new ConcurrentDictionary<int, int>();
            var keventsSeen = new ConcurrentDictionary<ulong, int>();
            using var allKevents = new CountdownEvent(plan.Count(p => p == 5) + 1);
            Parallel.For(0, plan.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            {
                int kind = plan[i];
                if (kind == 5)
                {
                    lt.Loop.Post(() => lt.Loop.SubmitThreadlet(async t => await t.Blocking(() => (long)i), (ulong)i, (in Kevent k) =>
                    {
                        keventsSeen.AddOrUpdate(k.UserData, 1, (_, n) => n + 1);
                        allKevents.Signal();
                    }));
                    return;
                }
                using var cts = new CancellationTokenSource();
                if (kind == 4)
                {
                    cts.Cancel();
                }
                try
                {
                    lt.Loop.Threadlet(async t =>
                    {
                        var buffer = new byte[512];
                        using ThreadletFile f = await t.OpenAsync(path);
                        int n = kind switch
                        {
                            0 => await t.ReadAsync(f, buffer, 0),
                            1 => await t.Blocking(() => 1),
                            2 => throw new InvalidDataException("planned"),
                            _ => await t.Blocking(tok => { tok.ThrowIfCancellationRequested(); return 3; }),
                        };
                        return n;
                    }, cts.Token).AsTask().ContinueWith(_ => deliveries.AddOrUpdate(i, 1, (_, n) => n + 1)).Wait(TimeSpan.FromSeconds(10));
                }
                catch (AggregateException)
                {
                }
            });
            allKevents.Signal();
            Assert.True(allKevents.Wait(TimeSpan.FromSeconds(10)));
            Assert.Equal(plan.Count(p => p != 5), deliveries.Count);
            Assert.All(deliveries.Values, n => Assert.Equal(1, n));
            Assert.All(keventsSeen.Values, n => Assert.Equal(1, n));
            Assert.Equal(plan.Count(p => p == 5), keventsSeen.Count);
        }, iter: 15, threads: 1);

        Assert.True(SpinWait.SpinUntil(() => lt.Runtime.InFlight == 0, TimeSpan.FromSeconds(10)));
    }
}
