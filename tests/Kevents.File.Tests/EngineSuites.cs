using Kevents.Tests;
using Kevents.File.Internal;
using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.File.Tests;

/// <summary>The behaviour suite on the loop's io_uring.</summary>
public sealed class IoUringAsyncFileTests : AsyncFileBehaviour
{
    protected override AsyncFileEngine Engine => AsyncFileEngine.IoUring;

    [Fact]
    public void NothingIsLostWhenTheCompletionQueueOverflows()
    {
        // Four SQ entries and eight CQ entries: with hundreds of reads queued, the engine submits whenever the SQ
        // fills, without reaping in between, so the kernel must hold completions back (IORING_FEAT_NODROP) and
        // TryReap must bring them in.
        byte[] data = CreateFile("overflow.bin", 512 * 16);
        var options = new AsyncFileOptions
        {
            Engine = AsyncFileEngine.IoUring,
            RingEntries = 4,
            IoUringSetup = new IoUringSetupOptions { CompletionQueueSize = 8 },
        };
        bool overflowed = false;
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("overflow.bin"), options: options);
            UringEngine engine = LoopFiles.Of(loop).Uring!;
            Assert.Equal(8u, engine.Ring.CompletionQueueSize);
            var buffers = new byte[512][];
            var reads = new ValueTask<int>[512];
            for (int i = 0; i < reads.Length; i++)
            {
                buffers[i] = new byte[16];
                reads[i] = file.ReadAsync(buffers[i], i * 16);
            }
            overflowed = engine.Ring.HasOverflow || engine.Ring.PendingCompletions == 8;
            for (int i = 0; i < reads.Length; i++)
            {
                Assert.Equal(16, await reads[i]);
                Assert.Equal(data.AsSpan(i * 16, 16).ToArray(), buffers[i]);
            }
            Assert.Equal(0, engine.InFlight);
            Assert.Equal(0u, engine.Ring.DroppedCompletions);
        });
        Assert.True(overflowed, "the test never filled the completion queue");
    }

    [Fact]
    public void OpensBlockedInTheKernelAreCancelledAndLeaveNoDescriptor()
    {
        // A FIFO opened without O_NONBLOCK waits for a writer inside an io_uring worker: a truly in-flight open.
        string fifo = PathOf("fifo");
        TestUtil.Ok(NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite), "mkfifo");
        // io_uring first tries every open inline with O_NONBLOCK added, which lets a FIFO's read side open at once; O_CREAT
        // (harmless on an existing FIFO) makes it skip that attempt and go to a worker, where the open waits for a writer.
        int blockingReadOnly = (NativeFile.ToNativeOpenFlags(FileOpenFlags.ReadOnly) & ~0x800) | 0x40; // - O_NONBLOCK + O_CREAT
        int cancelled = 0;
        RunOnLoop(async loop =>
        {
            using var cts = new CancellationTokenSource();
            var opens = Enumerable.Range(0, 8)
                .Select(_ => AsyncFile.OpenWithNativeFlagsAsync(loop, fifo, blockingReadOnly, Options, cts.Token).AsTask())
                .ToList();
            await Task.Delay(100);
            Assert.All(opens, o => Assert.False(o.IsCompleted));
            cts.Cancel();
            foreach (Task<AsyncFile> open in opens)
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => open);
                cancelled++;
            }
        });
        Assert.Equal(8, cancelled);
    }

    [Fact]
    public void OpensBlockedInTheKernelAtShutdownAreCancelledAndLeaveNoDescriptor()
    {
        string fifo = PathOf("fifo");
        TestUtil.Ok(NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite), "mkfifo");
        int blockingReadOnly = (NativeFile.ToNativeOpenFlags(FileOpenFlags.ReadOnly) & ~0x800) | 0x40;
        var opens = new List<Task<AsyncFile>>();
        RunOnLoop(async loop =>
        {
            for (int i = 0; i < 8; i++)
            {
                opens.Add(AsyncFile.OpenWithNativeFlagsAsync(loop, fifo, blockingReadOnly, Options, default).AsTask());
            }
            await Task.Delay(100);
            loop.Dispose();
        }, disposeFromBody: true);
        foreach (Task<AsyncFile> open in opens)
        {
            Assert.True(WaitQuietly(open));
            Assert.True(open.IsCanceled || open.IsFaulted);
        }
    }
}

/// <summary>The behaviour suite on threadlets (the fallback engine).</summary>
public sealed class ThreadletAsyncFileTests : AsyncFileBehaviour
{
    protected override AsyncFileEngine Engine => AsyncFileEngine.Threadlet;

    protected override bool CancelAlwaysBeatsCompletion => false;

    protected override void MakeOperationsSlow(EventLoop loop) =>
        loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Open, ShutdownTimeout = TimeSpan.FromSeconds(5) });
}
