using Kevents.File.Internal;
using Kevents.Native;

namespace Kevents.File.Tests;

/// <summary>
/// Issue 12's "AsyncFile without waste": reads of cached data allocate nothing in steady state (the operations are
/// pooled), and on io_uring they are copied inline with preadv2(RWF_NOWAIT) instead of going round the ring, while
/// data the kernel would have to fetch still goes through the ring.
/// </summary>
public sealed class CachedReadTests : FileTest
{
    private const int Block = 4096;

    [Theory]
    [InlineData(AsyncFileEngine.IoUring, false)]
    [InlineData(AsyncFileEngine.IoUring, true)]
    [InlineData(AsyncFileEngine.Threadlet, false)]
    public void ReadsAllocateNothingInSteadyState(AsyncFileEngine engine, bool throughTheRing)
    {
        // Measured where the work happens: bytes the loop thread allocates over thousands of reads after a warm-up.
        // throughTheRing refuses every RWF_NOWAIT attempt, so each read is a real SQE and CQE, resumed by the reap.
        byte[] data = CreateFile("alloc.bin", 64 * Block);
        using IDisposable? faults = throughTheRing
            ? FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1))
            : null;
        long allocated = -1;
        const int Reads = 4000;
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("alloc.bin"), options: new AsyncFileOptions { Engine = engine });
            var buffer = new byte[Block];
            long sum = 0;
            for (int i = 0; i < 500; i++)
            {
                sum += await file.ReadAsync(buffer, i % 64 * Block);
            }
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Reads; i++)
            {
                sum += await file.ReadAsync(buffer, i % 64 * Block);
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(loop.IsOnLoopThread, "a read resumed off the loop thread");
            Assert.Equal((500L + Reads) * Block, sum);
            Assert.Equal(data.AsSpan((Reads - 1) % 64 * Block, Block).ToArray(), buffer);
        });
        // Nothing may scale with the reads: 4000 reads at even 8 B each would be 32,000 B.
        Assert.True(allocated is >= 0 and < 1024, $"the loop allocated {allocated} bytes for {Reads} reads");
    }

    [Fact]
    public void CachedReadsOnIoUringCompleteInlineWithoutTheRing()
    {
        byte[] data = CreateFile("cached.bin", 16 * Block);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("cached.bin"), options: new AsyncFileOptions { Engine = AsyncFileEngine.IoUring });
            UringEngine engine = LoopFiles.Of(loop).Uring!;
            var buffer = new byte[Block];
            for (int i = 0; i < 16; i++)
            {
                ValueTask<int> read = file.ReadAsync(buffer, i * Block);
                Assert.True(read.IsCompletedSuccessfully, $"read {i} of cached data did not complete inline");
                Assert.Equal(Block, await read);
                Assert.Equal(data.AsSpan(i * Block, Block).ToArray(), buffer);
            }
            Assert.Equal(16, engine.InlineReads);
            Assert.Equal(0, engine.RingReads);
            Assert.Equal(0, engine.InFlight);
        });
    }

    [Fact]
    public void ReadsTheKernelWouldWaitForGoThroughTheRingAndStopBeingTriedInline()
    {
        // FileReadNoWait answering EAGAIN is what a page-cache miss looks like to preadv2(RWF_NOWAIT).
        byte[] data = CreateFile("cold.bin", 16 * Block);
        FaultPlan plan = new FaultPlan().Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1);
        const int Reads = 400;
        long inline = -1, ring = -1;
        using (FaultInjection.Arm(plan))
        {
            RunOnLoop(async loop =>
            {
                await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("cold.bin"), options: new AsyncFileOptions { Engine = AsyncFileEngine.IoUring });
                UringEngine engine = LoopFiles.Of(loop).Uring!;
                var buffer = new byte[Block];
                for (int i = 0; i < Reads; i++)
                {
                    ValueTask<int> read = file.ReadAsync(buffer, i % 16 * Block);
                    Assert.False(read.IsCompleted, $"read {i} completed inline although the kernel refused RWF_NOWAIT");
                    Assert.Equal(Block, await read);
                    Assert.Equal(data.AsSpan(i % 16 * Block, Block).ToArray(), buffer);
                }
                inline = engine.InlineReads;
                ring = engine.RingReads;
            });
        }
        Assert.Equal(0, inline);
        Assert.Equal(Reads, ring);
        long attempts = plan.Injected(FaultSite.FileReadNoWait);
        // Misses back off up to one attempt in 65 reads: about a dozen attempts for 400 reads, never one per read.
        Assert.True(attempts is >= 1 and <= Reads / 16, $"{attempts} inline attempts for {Reads} reads of a cold file");
    }

    [Fact]
    public void AFileThatBecomesCachedIsReadInlineAgain()
    {
        CreateFile("warming.bin", 16 * Block);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("warming.bin"), options: new AsyncFileOptions { Engine = AsyncFileEngine.IoUring });
            UringEngine engine = LoopFiles.Of(loop).Uring!;
            var buffer = new byte[Block];
            using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1)))
            {
                for (int i = 0; i < 300; i++)
                {
                    await file.ReadAsync(buffer, i % 16 * Block);
                }
            }
            Assert.Equal(0, engine.InlineReads);
            // The longest back-off is 64 reads; after that every read is a hit.
            for (int i = 0; i < 200; i++)
            {
                await file.ReadAsync(buffer, i % 16 * Block);
            }
            Assert.True(engine.InlineReads >= 200 - NoWaitHint.MaxSkip, $"only {engine.InlineReads} of 200 cached reads ran inline");
        });
    }

    [Fact]
    public void InlineReadsAreBoundedPerTurnSoTheLoopKeepsServing()
    {
        // A thousand reads started in one turn: the first batch is copied inline, the rest go through the ring and
        // complete in later turns, so a burst of cached reads cannot hold the loop thread for long.
        byte[] data = CreateFile("burst.bin", 64 * Block);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("burst.bin"), options: new AsyncFileOptions { Engine = AsyncFileEngine.IoUring });
            UringEngine engine = LoopFiles.Of(loop).Uring!;
            await Task.Yield(); // a fresh turn
            const int Reads = 1000;
            var buffers = new byte[Reads][];
            var reads = new ValueTask<int>[Reads];
            for (int i = 0; i < Reads; i++)
            {
                buffers[i] = new byte[Block];
                reads[i] = file.ReadAsync(buffers[i], i % 64 * Block);
            }
            long inlineInOneTurn = engine.InlineReads;
            for (int i = 0; i < Reads; i++)
            {
                Assert.Equal(Block, await reads[i]);
                Assert.Equal(data.AsSpan(i % 64 * Block, Block).ToArray(), buffers[i]);
            }
            Assert.InRange(inlineInOneTurn, 1, Reads / 2);
            Assert.Equal(Reads, engine.InlineReads + engine.RingReads);
            Assert.True(engine.RingReads > 0, "no read of the burst went through the ring");
        });
    }
}
