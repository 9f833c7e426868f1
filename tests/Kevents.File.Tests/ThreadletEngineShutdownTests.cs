using System.Diagnostics;
using Kevents.File.Internal;
using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.File.Tests;

// Issue 8 item 4, docs/reliability.md: disposing the loop while a threadlet file operation is inside its system
// call must not unpin its buffer or release its descriptor (a pread would write into freed memory, or use a number
// the process has reused); shutdown stays bounded, and the operation completes when its call returns.
public sealed class ThreadletEngineShutdownTests : FileTest
{
    // Shutting down with a read still in its system call is what these tests do: the threadlet runtime says so, on purpose.
    public ThreadletEngineShutdownTests() =>
        Gate.Expect(e => e.EventId.Name is "ThreadletStuckAtShutdown");

    private static bool IsOpenOn(int fd, string path)
    {
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget == path;
        }
        catch (IOException)
        {
            return false;
        }
    }

    [Fact]
    public void ShutdownReleasesNothingOfAReadStillInItsSystemCall()
    {
        CreateFile("busy.bin", 100);
        string path = PathOf("busy.bin");
        using var inCall = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var options = new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet, ShutdownTimeout = TimeSpan.FromMilliseconds(300) };
        var loop = new EventLoop(new EventLoopOptions { Name = "busy" });
        loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Read, ShutdownTimeout = TimeSpan.FromMilliseconds(200) });
        AsyncFile? file = null;
        Task<int>? read = null;
        Exception? failure = null;
        loop.Post(async () =>
        {
            try
            {
                file = await AsyncFile.OpenAsync(loop, path, options: options);
                LoopFiles.Of(loop).Threadlets!.InSystemCallForTest = _ =>
                {
                    inCall.Set();
                    release.Wait(TimeSpan.FromSeconds(20));
                };
                read = file.ReadAsync(new byte[100], 0).AsTask();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                loop.Stop();
            }
        });
        loop.Run();
        Assert.Null(failure);
        try
        {
            Assert.True(inCall.Wait(TimeSpan.FromSeconds(10)), "the read never reached its system call");
            int fd = file!.Descriptor;
            file.Dispose(); // the read in flight keeps the descriptor open

            var clock = Stopwatch.StartNew();
            loop.Dispose();
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"disposing the loop took {clock.Elapsed}");
            Assert.False(read!.IsCompleted, "the read completed (releasing its buffer) while its system call was still running");
            Assert.True(IsOpenOn(fd, path), "the descriptor was released while the read's system call could still use it");

            release.Set();
            Assert.True(WaitQuietly(read), "the read never completed after its system call returned");
            Assert.True(read.IsCanceled, $"the read ended {read.Status} instead of cancelled by the shutdown");
            Assert.False(IsOpenOn(fd, path), "the descriptor stayed open after the read completed");
        }
        finally
        {
            release.Set();
            loop.Dispose();
        }
    }

    [Fact]
    public void ShutdownWaitsForAReadThatLeavesItsSystemCallInTime()
    {
        CreateFile("quick.bin", 100);
        string path = PathOf("quick.bin");
        using var inCall = new ManualResetEventSlim();
        using var callDone = new ManualResetEventSlim();
        var options = new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet, ShutdownTimeout = TimeSpan.FromSeconds(10) };
        var loop = new EventLoop(new EventLoopOptions { Name = "quick" });
        loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Read, ShutdownTimeout = TimeSpan.FromMilliseconds(50) });
        AsyncFile? file = null;
        Task<int>? read = null;
        loop.Post(async () =>
        {
            try
            {
                file = await AsyncFile.OpenAsync(loop, path, options: options);
                LoopFiles.Of(loop).Threadlets!.InSystemCallForTest = _ =>
                {
                    inCall.Set();
                    Thread.Sleep(300);
                    callDone.Set();
                };
                read = file.ReadAsync(new byte[100], 0).AsTask();
            }
            finally
            {
                loop.Stop();
            }
        });
        loop.Run();
        Assert.True(inCall.Wait(TimeSpan.FromSeconds(10)));
        loop.Dispose();
        // Shutdown waited for the call (longer than the threadlet runtime's own 50 ms), then completed the read.
        Assert.True(callDone.IsSet, "disposing the loop returned while the read was still in its system call");
        Assert.True(WaitQuietly(read!));
        Assert.True(read!.IsCanceled);
        file!.Dispose();
    }

    [Fact]
    public void AReadOutlivingARuntimeShutdownWhileTheLoopRunsCompletesOnTheLoop()
    {
        // The threadlet runtime may be shut down while its loop keeps running. A file operation still in its system
        // call then still belongs to the loop: when the call returns, its real result (not a cancellation) comes back
        // on the loop thread, where the awaiting code resumes, instead of completing on the cache-miss thread.
        CreateFile("late.bin", 100);
        using var inCall = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var options = new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet, ShutdownTimeout = TimeSpan.FromMilliseconds(100) };
        try
        {
            RunOnLoop(async loop =>
            {
                ThreadletRuntime runtime = loop.UseThreadlets(new ThreadletOptions
                {
                    SimulateBlocking = SimulatedBlocking.Read,
                    ShutdownTimeout = TimeSpan.FromMilliseconds(50),
                });
                await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("late.bin"), options: options);
                LoopFiles.Of(loop).Threadlets!.InSystemCallForTest = _ =>
                {
                    inCall.Set();
                    release.Wait(TimeSpan.FromSeconds(20));
                };
                bool resumedOnLoop = false;
                async Task<int> ReadAndNoteWhere()
                {
                    int n = await file.ReadAsync(new byte[100], 0);
                    resumedOnLoop = loop.IsOnLoopThread;
                    return n;
                }
                // Awaiting from the loop thread now, so the resume happens wherever the read completes.
                Task<int> read = ReadAndNoteWhere();
                ThreadletShutdownReport report = await Task.Run(() =>
                {
                    Assert.True(inCall.Wait(TimeSpan.FromSeconds(10)), "the read never reached its system call");
                    ThreadletShutdownReport shutdown = runtime.Shutdown(TimeSpan.FromMilliseconds(50));
                    release.Set();
                    return shutdown;
                });
                Assert.Single(report.Stuck);
                Assert.Equal(100, await read);
                Assert.True(resumedOnLoop, "the read completed off the loop thread while the loop was still running");
            });
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void AReadThatNeedsAThreadWhenNoneCanStartFailsWithEmfile()
    {
        // Issue 8 item 3: near the descriptor limit the cache-miss pool starts no thread; a file operation that needs
        // one fails with EMFILE (not EIO, and not a process abort), and works again once descriptors are free.
        CreateFile("limit.bin", 100);
        RunOnLoop(async loop =>
        {
            ThreadletRuntime runtime = loop.UseThreadlets(new ThreadletOptions { SimulateBlocking = SimulatedBlocking.Read });
            var options = new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet };
            await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("limit.bin"), options: options);
            runtime.DescriptorHeadroomForTest = () => false;
            var error = await Assert.ThrowsAsync<IOException>(async () => await file.ReadAsync(new byte[10], 0));
            Assert.Contains("EMFILE", error.Message);
            Assert.Contains("limit.bin", error.Message);
            Assert.Equal(0, runtime.ThreadsAlive(WorkClass.Short));

            runtime.DescriptorHeadroomForTest = null;
            Assert.Equal(10, await file.ReadAsync(new byte[10], 0));
        });
    }
}
