using System.ComponentModel;
using Kevents.Native;

namespace Kevents.Hybrid.Tests;

// Issue 8 item 3: starting a thread needs descriptors, and the runtime aborts the process when it finds none. The
// cache-miss pool therefore never starts a thread while the process is out of descriptors: work waits for the
// threads already running, or, when there are none, fails with EMFILE.
public sealed class DescriptorLimitTests : HybridTest
{
    private static Task<T> Start<T>(LoopThread lt, Func<Threadlet, ValueTask<T>> body) =>
        lt.OnLoop(() => lt.Loop.Threadlet(body).AsTask());

    [Fact]
    public async Task WithoutDescriptorsAndWithoutThreadsBlockingWorkFailsWithEmfile()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 2 });
        lt.Runtime.DescriptorHeadroomForTest = () => false;
        var error = await Assert.ThrowsAsync<IOException>(() => Start(lt, async t => await t.Blocking(() => 1)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.EMFILE, Assert.IsType<Win32Exception>(error.InnerException).NativeErrorCode);
        Assert.Contains("out of file descriptors", error.Message);
        Assert.Contains("RLIMIT_NOFILE", error.Message);
        Assert.Equal(0, lt.Runtime.ThreadsAlive(WorkClass.Short));

        // The kevent form carries the errno.
        var kevent = new TaskCompletionSource<Kevent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await lt.OnLoop(() => Task.FromResult(lt.Loop.SubmitThreadlet(async t => await t.Blocking(() => 1L),
            handler: (in Kevent k) => kevent.TrySetResult(k))));
        Kevent done = await kevent.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(done.Flags.HasFlag(KeventFlags.Error));
        Assert.Equal(-Errno.EMFILE, done.Data);

        // Descriptors free again: threads start as before.
        lt.Runtime.DescriptorHeadroomForTest = null;
        Assert.Equal(2, await Start(lt, async t => await t.Blocking(() => 2)).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, lt.Runtime.ThreadsAlive(WorkClass.Short));
    }

    [Fact]
    public async Task WithoutDescriptorsWorkWaitsForTheThreadsAlreadyRunning()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 4, SpinBeforeIdle = TimeSpan.Zero });
        using var release = new ManualResetEventSlim();
        Task<int> first = Start(lt, async t => await t.Blocking(() => { release.Wait(TimeSpan.FromSeconds(10)); return 1; }));
        await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.ThreadsAlive(WorkClass.Short) == 1 && lt.Runtime.QueueDepth(WorkClass.Short) == 0);

        lt.Runtime.DescriptorHeadroomForTest = () => false;
        Task<int>[] more = Enumerable.Range(2, 3).Select(i => Start(lt, async t => await t.Blocking(() => i))).ToArray();
        await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.QueueDepth(WorkClass.Short) == 3);
        Assert.Equal(1, lt.Runtime.ThreadsAlive(WorkClass.Short));

        release.Set();
        Assert.Equal(1, await first.WaitAsync(TimeSpan.FromSeconds(10)));
        int[] results = await Task.WhenAll(more).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new[] { 2, 3, 4 }, results);
        Assert.Equal(1, lt.Runtime.ThreadsAlive(WorkClass.Short));
        lt.Runtime.DescriptorHeadroomForTest = null;
    }

    [Fact]
    public async Task AtTheRealDescriptorLimitNoThreadStartsAndTheProcessSurvives()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 2 });
        Assert.True(DescriptorHeadroom.Available(16));
        long limit = ProcessLimits.OpenFilesLimit();
        // Leave ten descriptor numbers free below the soft limit: enough for the test host's own threads, too few
        // for the pool's safety margin. The tests of this assembly run one class at a time.
        int[] open = Directory.GetFileSystemEntries("/proc/self/fd").Select(p => int.Parse(Path.GetFileName(p))).Order().ToArray();
        long lowered = 0;
        int below = 0;
        for (long candidate = 1; ; candidate++)
        {
            while (below < open.Length && open[below] < candidate)
            {
                below++;
            }
            if (candidate - below >= 10)
            {
                lowered = candidate;
                break;
            }
        }
        Assert.Equal(0, ProcessLimits.SetOpenFilesLimit(lowered));
        try
        {
            Assert.False(DescriptorHeadroom.Available(16));
            var error = await Assert.ThrowsAsync<IOException>(() => Start(lt, async t => await t.Blocking(() => 1)).WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(Errno.EMFILE, Assert.IsType<Win32Exception>(error.InnerException).NativeErrorCode);
            Assert.Equal(0, lt.Runtime.ThreadsAlive(WorkClass.Short));
        }
        finally
        {
            Assert.Equal(0, ProcessLimits.SetOpenFilesLimit(limit));
        }
        Assert.True(DescriptorHeadroom.Available(16));
        Assert.Equal(2, await Start(lt, async t => await t.Blocking(() => 2)).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}

// Issue 8 item 31: a threadlet offset is a byte position, or -1 for the file position; other negatives are rejected
// (as AsyncFile does), instead of silently reading at the file position.
public sealed class ThreadletOffsetTests : HybridTest
{
    [Fact]
    public async Task OffsetsBelowMinusOneAreRejectedAndMinusOneReadsAtThePosition()
    {
        using var lt = new LoopThread();
        string path = Path.Combine(TempFiles.Directory, $"offsets-{Guid.NewGuid():N}.bin");
        System.IO.File.WriteAllBytes(path, Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        try
        {
            var buffer = new byte[10];
            int n = await lt.OnLoop(() => lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile file = await t.OpenAsync(path);
                await t.ReadAsync(file, buffer, -1);
                return await t.ReadAsync(file, buffer, -1);
            }).AsTask());
            Assert.Equal(10, n);
            Assert.Equal(Enumerable.Range(10, 10).Select(i => (byte)i).ToArray(), buffer);

            var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => lt.OnLoop(() => lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile file = await t.OpenAsync(path);
                return await t.ReadAsync(file, buffer, -2);
            }).AsTask()));
            Assert.Contains("-1", error.Message);
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => lt.OnLoop(() => lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile file = await t.OpenAsync(path, FileOpenFlags.WriteOnly);
                return await t.WriteAsync(file, buffer, long.MinValue);
            }).AsTask()));
            Assert.Throws<ArgumentOutOfRangeException>(() => Syslet.Open(path).Read(buffer, -7));
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }
}
