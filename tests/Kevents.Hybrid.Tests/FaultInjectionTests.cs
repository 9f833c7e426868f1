using Kevents.Native;

namespace Kevents.Hybrid.Tests;

/// <summary>
/// Threadlets with the kernel made awkward: the non-blocking attempts refused (EAGAIN) so work moves to cache-miss
/// threads, reads and opens interrupted (EINTR), descriptors exhausted. Answers must not change, and a failure must
/// reach the threadlet as an exception, never the loop.
/// </summary>
public sealed class FaultInjectionTests : HybridTest
{
    [Fact]
    public async Task RefusedNonBlockingAttemptsMoveToThreadsAndStillReadTheSameBytes()
    {
        byte[] content = TempFiles.Bytes(8192, seed: 5);
        string path = TempFiles.WithContent("faulty.bin", content);
        var plan = new FaultPlan(seed: 5)
            .Fail(FaultSite.FileOpenCached, Errno.EAGAIN, 0.5)
            .Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, 0.5)
            .Fail(FaultSite.FileRead, Errno.EINTR, 0.3)
            .Fail(FaultSite.FileOpen, Errno.EINTR, 0.3);
        using var lt = new LoopThread();
        var results = new List<byte[]>();
        using (FaultInjection.Arm(plan))
        {
            await lt.OnLoop(async () =>
            {
                for (int i = 0; i < 40; i++)
                {
                    byte[] buffer = new byte[content.Length];
                    int n = await lt.Loop.Threadlet(async t =>
                    {
                        using ThreadletFile file = await t.OpenAsync(path);
                        return await t.ReadAsync(file, buffer, 0);
                    });
                    Assert.Equal(content.Length, n);
                    results.Add(buffer);
                }
                return 0;
            });
        }
        Assert.All(results, r => Assert.Equal(content, r));
        // After a few refusals the router learns that this kind of work blocks and sends it straight to a thread,
        // where the blocking calls meet the interruptions.
        Assert.True(plan.Injected(FaultSite.FileReadNoWait) + plan.Injected(FaultSite.FileOpenCached) > 0, "no non-blocking attempt was refused");
        Assert.True(plan.Injected(FaultSite.FileRead) + plan.Injected(FaultSite.FileOpen) > 0, "no blocking call was interrupted");
        Assert.True(lt.Runtime.Offloaded > 0, "nothing moved to a cache-miss thread");
    }

    [Fact]
    public async Task OpenFailingWithEmfileReachesTheThreadletAsAnExceptionAndTheLoopGoesOn()
    {
        string path = TempFiles.WithContent("emfile.bin", TempFiles.Bytes(16));
        using var lt = new LoopThread();
        var plan = new FaultPlan()
            .Fail(FaultSite.FileOpenCached, Errno.EMFILE, 1)
            .Fail(FaultSite.FileOpen, Errno.EMFILE, 1);
        Exception? error;
        using (FaultInjection.Arm(plan))
        {
            error = await lt.OnLoop(async () =>
            {
                try
                {
                    await lt.Loop.Threadlet(async t =>
                    {
                        using ThreadletFile file = await t.OpenAsync(path);
                        return 0;
                    });
                    return (Exception?)null;
                }
                catch (Exception ex)
                {
                    return ex;
                }
            });
        }
        Assert.NotNull(error);
        Assert.IsType<IOException>(error);
        Assert.Contains("EMFILE", error!.Message, StringComparison.Ordinal);
        // Descriptors came back: the same threadlet now succeeds on the same loop.
        int n = await lt.OnLoop(async () => await lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile file = await t.OpenAsync(path);
            return await t.ReadAsync(file, new byte[16], 0);
        }));
        Assert.Equal(16, n);
    }
}
