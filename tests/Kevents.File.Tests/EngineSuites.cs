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
        // Cached reads would be copied inline without the ring; refusing RWF_NOWAIT sends all 512 through it.
        using IDisposable faults = FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1));
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
    [Fact]
    public void EveryOpenBlockedInTheKernelGetsItsCancelAtShutdownEvenWithATinyRing()
    {
        // Two SQ entries and two CQ entries: the shutdown's cancels do not fit at once, completions pile up as they
        // are submitted, and the first submission is refused with EBUSY. Every blocked open must still get its cancel
        // and complete (an open left without one stays blocked in the kernel until the ring is torn down).
        string fifo = PathOf("fifo");
        TestUtil.Ok(NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite), "mkfifo");
        int blockingReadOnly = (NativeFile.ToNativeOpenFlags(FileOpenFlags.ReadOnly) & ~0x800) | 0x40;
        var options = new AsyncFileOptions
        {
            Engine = AsyncFileEngine.IoUring,
            RingEntries = 2,
            IoUringSetup = new IoUringSetupOptions { CompletionQueueSize = 2 },
            ShutdownTimeout = TimeSpan.FromSeconds(3),
        };
        const int count = 16;
        var opens = new List<Task<AsyncFile>>();
        // The kernel answers the shutdown's first submission with EBUSY ("reap completions first"). Armed only once
        // every open is in flight; the shutdown runs after the body returns, so the plan stays armed until then.
        var plan = new FaultPlan().Fail(FaultSite.IoUringSubmit, Errno.EBUSY, 1, budget: 1);
        IDisposable? armed = null;
        try
        {
        RunOnLoop(async loop =>
        {
            for (int i = 0; i < count; i++)
            {
                opens.Add(AsyncFile.OpenWithNativeFlagsAsync(loop, fifo, blockingReadOnly, options, default).AsTask());
            }
            UringEngine engine = LoopFiles.Of(loop).Uring!;
            var until = DateTime.UtcNow.AddSeconds(10);
            while (engine.Ring.PendingSubmissions > 0 && DateTime.UtcNow < until)
            {
                await Task.Delay(10);
            }
            await Task.Delay(100);
            Assert.Equal(count, engine.InFlight);
            Assert.All(opens, o => Assert.False(o.IsCompleted));
            armed = FaultInjection.Arm(plan);
            loop.Dispose();
        }, disposeFromBody: true);
        }
        finally
        {
            armed?.Dispose();
        }
        Assert.Equal(1, plan.Injected(FaultSite.IoUringSubmit));
        foreach (Task<AsyncFile> open in opens)
        {
            Assert.True(WaitQuietly(open), "an open blocked in the kernel never completed after shutdown");
            Assert.True(open.IsCanceled || open.IsFaulted);
        }
    }

    [Fact]
    public void ACancelledCloseTheKernelPerformedReportsItsRealResult()
    {
        CreateFile("closing.bin", 10);
        using var loop = new EventLoop(new EventLoopOptions { Name = "file-test-close" });
        Assert.Equal(AsyncFileEngine.IoUring, loop.UseAsyncFiles(Options));
        TestUtil.Ok(NativeFile.Open(PathOf("closing.bin"), FileOpenFlags.ReadOnly, default, cachedOnly: false, out FileDescriptor? file), "open");
        int fd = file!.Fd;
        file.SetHandleAsInvalid(); // handed over to the close below
        Kevent? done = null;
        ulong id = loop.SubmitClose(fd, userData: 7, handler: (in Kevent ev) => done = ev);
        // In the same turn: the close is prepared, not yet submitted, when its cancel is prepared behind it. A close
        // cannot be cancelled once the kernel has it; it runs, and its completion must say so.
        Assert.True(loop.CancelSubmission(id));
        var events = new Kevent[4];
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (done is null && DateTime.UtcNow < until)
        {
            loop.Poll(events, TimeSpan.FromMilliseconds(20));
        }
        Assert.NotNull(done);
        bool stillOpen = System.IO.File.Exists($"/proc/self/fd/{fd}") && new FileInfo($"/proc/self/fd/{fd}").LinkTarget == PathOf("closing.bin");
        if (done!.Value.IsError)
        {
            // Only a close the kernel never ran may say "cancelled", and then the descriptor is still the caller's.
            Assert.Equal(-Errno.ECANCELED, done.Value.Data);
            Assert.True(stillOpen, "the close reported cancelled although the kernel closed the descriptor");
            Io.Close(fd);
        }
        else
        {
            Assert.Equal(0, done.Value.Data);
            Assert.False(stillOpen);
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

/// <summary>
/// The behaviour suite on the threadlet engine with the kernel made awkward: cached opens and RWF_NOWAIT reads
/// refused at random (so work moves between the loop and cache-miss threads), opens and reads interrupted.
/// </summary>
public sealed class ThreadletAsyncFileUnderFaultsTests : AsyncFileBehaviour
{
    private readonly FaultPlan _plan = new FaultPlan(seed: 9)
        .Fail(FaultSite.FileOpenCached, Errno.EAGAIN, 0.3)
        .Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, 0.3)
        .Fail(FaultSite.FileRead, Errno.EINTR, 0.2)
        .Fail(FaultSite.FileOpen, Errno.EINTR, 0.2);

    private readonly IDisposable _armed;

    public ThreadletAsyncFileUnderFaultsTests() => _armed = FaultInjection.Arm(_plan);

    protected override AsyncFileEngine Engine => AsyncFileEngine.Threadlet;

    protected override bool CancelAlwaysBeatsCompletion => false;

    protected override void MakeOperationsSlow(EventLoop loop) =>
        loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Open, ShutdownTimeout = TimeSpan.FromSeconds(5) });

    [Fact]
    public void FaultsReallyFire()
    {
        byte[] data = CreateFile("faults.bin", 4096);
        RunOnLoop(async loop =>
        {
            for (int i = 0; i < 20; i++)
            {
                await using AsyncFile file = await Open(loop, PathOf("faults.bin"));
                byte[] buffer = new byte[4096];
                Assert.Equal(4096, await file.ReadAsync(buffer, 0));
                Assert.Equal(data, buffer);
            }
        });
        Assert.True(_plan.Injected(FaultSite.FileReadNoWait) + _plan.Injected(FaultSite.FileOpenCached) > 0, "no fault fired");
    }

    public override void Dispose()
    {
        _armed.Dispose();
        base.Dispose();
    }
}

/// <summary>The behaviour suite where io_uring setup fails (as under a seccomp profile): Auto falls back to threadlets.</summary>
public sealed class IoUringSetupRefusedAsyncFileTests : AsyncFileBehaviour
{
    private readonly FaultPlan _plan = new FaultPlan().Fail(FaultSite.IoUringSetup, Errno.EPERM, 1);
    private readonly IDisposable _armed;

    public IoUringSetupRefusedAsyncFileTests() => _armed = FaultInjection.Arm(_plan);

    protected override AsyncFileEngine Engine => AsyncFileEngine.Threadlet;

    protected override AsyncFileOptions Options => new() { Engine = AsyncFileEngine.Auto };

    protected override bool CancelAlwaysBeatsCompletion => false;

    protected override void MakeOperationsSlow(EventLoop loop) =>
        loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Open, ShutdownTimeout = TimeSpan.FromSeconds(5) });

    [Fact]
    public void AutoTriedIoUringAndFellBack()
    {
        CreateFile("fallback.bin", 16);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("fallback.bin"));
            Assert.Equal(AsyncFileEngine.Threadlet, file.Engine);
        });
        Assert.True(_plan.Injected(FaultSite.IoUringSetup) > 0, "io_uring setup was never attempted");
    }

    public override void Dispose()
    {
        _armed.Dispose();
        base.Dispose();
    }
}
