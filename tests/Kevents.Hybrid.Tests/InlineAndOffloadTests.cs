using Kevents.Native;

namespace Kevents.Hybrid.Tests;

public sealed class InlineAndOffloadTests : HybridTest
{
    [Fact]
    public async Task CachedOpenReadCloseRunsInlineWithoutAThreadHop()
    {
        byte[] content = TempFiles.Bytes(4096);
        string path = TempFiles.WithContent("inline.bin", content);
        using var lt = new LoopThread();
        var buffer = new byte[4096];

        var (n, threads) = await lt.OnLoop(async () =>
        {
            var seen = new List<int>();
            int read = await lt.Loop.Threadlet(async t =>
            {
                seen.Add(Environment.CurrentManagedThreadId);
                using ThreadletFile file = await t.OpenAsync(path);
                seen.Add(Environment.CurrentManagedThreadId);
                int r = await t.ReadAsync(file, buffer, offset: 0);
                seen.Add(Environment.CurrentManagedThreadId);
                return r;
            });
            return (read, seen);
        });

        Assert.Equal(4096, n);
        Assert.Equal(content, buffer);
        Assert.All(threads, id => Assert.Equal(lt.ThreadId, id));
        Assert.Equal(1, lt.Runtime.InlineCompletions);
        Assert.Equal(0, lt.Runtime.Offloaded);
        Assert.Equal(0, lt.Runtime.ThreadsAlive(WorkClass.Short));
    }

    [Fact]
    public async Task ReadThatWouldBlockContinuesOnACacheMissThreadAndResumesTheAwaiterOnTheLoop()
    {
        byte[] content = TempFiles.Bytes(1000, seed: 2);
        string path = TempFiles.WithContent("offload.bin", content);
        using var lt = new LoopThread();
        lt.Runtime.SimulateBlocking = SimulatedBlocking.Read;
        var buffer = new byte[1000];

        var (n, afterOpen, afterRead, awaiterThread) = await lt.OnLoop(async () =>
        {
            int opened = 0, read = 0;
            int r = await lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile file = await t.OpenAsync(path);
                opened = Environment.CurrentManagedThreadId;
                int got = await t.ReadAsync(file, buffer, 0);
                read = Environment.CurrentManagedThreadId;
                return got;
            });
            return (r, opened, read, Environment.CurrentManagedThreadId);
        });

        Assert.Equal(1000, n);
        Assert.Equal(content, buffer);
        Assert.Equal(lt.ThreadId, afterOpen);          // the open was cached: still inline
        Assert.NotEqual(lt.ThreadId, afterRead);       // the rest ran on a cache-miss thread
        Assert.Equal(lt.ThreadId, awaiterThread);      // and the awaiter came back to the loop
        Assert.Equal(1, lt.Runtime.Offloaded);
        Assert.Equal(0, lt.Runtime.InlineCompletions);
    }

    [Fact]
    public async Task LaterPrimitivesOfAnOffloadedThreadletBlockOnItsThread()
    {
        string path = TempFiles.WithContent("later.bin", TempFiles.Bytes(64, seed: 3));
        using var lt = new LoopThread();
        lt.Runtime.SimulateBlocking = SimulatedBlocking.Open;
        var buffer = new byte[64];

        var threads = await lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile file = await t.OpenAsync(path);
            int afterOpen = Environment.CurrentManagedThreadId;
            await t.ReadAsync(file, buffer, 0);
            await t.StatAsync(file);
            return (afterOpen, Environment.CurrentManagedThreadId, t.IsOnLoop);
        }).AsTask());

        Assert.NotEqual(lt.ThreadId, threads.afterOpen);
        Assert.Equal(threads.afterOpen, threads.Item2); // no hop back and forth: the same cache-miss thread
        Assert.False(threads.IsOnLoop);
    }

    [Fact]
    public async Task AFifoReadWaitingOnAThreadEndsWithTheCallersCancellation()
    {
        // The cache-miss thread waits for the pipe's readiness in slices (FileCalls, shared with AsyncFile); cancelling
        // the threadlet stops that wait, and the threadlet sees the caller's own token, not a generic I/O error.
        string fifo = Path.Combine(TempFiles.Directory, $"fifo-{Guid.NewGuid():N}");
        Assert.Equal(0, NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite));
        try
        {
            Assert.Equal(0, NativeFile.Open(fifo, FileOpenFlags.ReadWrite, 0, cachedOnly: false, out FileDescriptor? keeper));
            using (keeper)
            {
                using var lt = new LoopThread();
                using var cts = new CancellationTokenSource();
                Task<int> reading = lt.OnLoop(() => lt.Loop.Threadlet(async t =>
                {
                    using ThreadletFile file = await t.OpenAsync(fifo);
                    return await t.ReadAsync(file, new byte[5]);
                }, cts.Token).AsTask());

                await WaitUntil(() => lt.Runtime.Offloaded == 1);
                await Task.Delay(100); // let the thread reach its wait for readiness
                Assert.False(reading.IsCompleted);
                cts.Cancel();

                var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.Equal(cts.Token, error.CancellationToken);
            }
        }
        finally
        {
            File.Delete(fifo);
        }
    }

    [Fact]
    public async Task FifoWithoutDataOffloadsTheReadUntilAWriterArrives()
    {
        string fifo = Path.Combine(TempFiles.Directory, $"fifo-{Guid.NewGuid():N}");
        Assert.Equal(0, NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite));
        try
        {
            // Holding the FIFO open read-write keeps a writer present, so the threadlet's read sees EAGAIN, not EOF.
            Assert.Equal(0, NativeFile.Open(fifo, FileOpenFlags.ReadWrite, 0, cachedOnly: false, out FileDescriptor? keeper));
            using (keeper)
            {
                using var lt = new LoopThread();
                var buffer = new byte[5];
                Task<(int, int)> reading = lt.OnLoop(() => lt.Loop.Threadlet(async t =>
                {
                    using ThreadletFile file = await t.OpenAsync(fifo);
                    int n = await t.ReadAsync(file, buffer);
                    return (n, Environment.CurrentManagedThreadId);
                }).AsTask());

                await WaitUntil(() => lt.Runtime.Offloaded == 1);
                Assert.False(reading.IsCompleted);
                Assert.Equal(5, NativeFile.Write(keeper!.Fd, "hello"u8, -1, noWait: false));

                var (read, thread) = await reading.WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(5, read);
                Assert.Equal("hello"u8.ToArray(), buffer);
                Assert.NotEqual(lt.ThreadId, thread);
            }
        }
        finally
        {
            File.Delete(fifo);
        }
    }

    [Fact]
    public async Task FileEvictedFromThePageCacheIsReadOnACacheMissThread()
    {
        byte[] content = TempFiles.Bytes(64 * 1024, seed: 4);
        string path = TempFiles.WithContent("evicted.bin", content);
        if (!TempFiles.Evict(path))
        {
            return; // This file system keeps the pages (tmpfs): the injection tests cover the path instead.
        }
        using var lt = new LoopThread();
        var buffer = new byte[content.Length];
        int thread = await lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile file = await t.OpenAsync(path);
            await t.ReadAsync(file, buffer, 0);
            return Environment.CurrentManagedThreadId;
        }).AsTask());
        Assert.NotEqual(lt.ThreadId, thread);
        Assert.Equal(content.AsSpan(0, 4096).ToArray(), buffer.AsSpan(0, 4096).ToArray());
        Assert.Equal(1, lt.Runtime.Offloaded);
    }

    [Fact]
    public async Task WriteThenReadBackThroughThreadlets()
    {
        string path = Path.Combine(TempFiles.Directory, "written.bin");
        using var lt = new LoopThread();
        byte[] data = TempFiles.Bytes(3000, seed: 5);
        var back = new byte[3000];
        int read = await lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            // Create|Truncate may write to disk, so the open itself goes to a thread: the rest follows it.
            using (ThreadletFile file = await t.OpenAsync(path, FileOpenFlags.WriteOnly | FileOpenFlags.Create | FileOpenFlags.Truncate))
            {
                Assert.Equal(3000, await t.WriteAsync(file, data, 0));
            }
            using ThreadletFile again = await t.OpenAsync(path);
            FileStatus status = await t.StatAsync(path);
            Assert.Equal(3000, status.Length);
            Assert.True(status.IsRegularFile);
            return await t.ReadAsync(again, back, 0);
        }).AsTask());
        Assert.Equal(3000, read);
        Assert.Equal(data, back);
    }

    [Fact]
    public async Task FilesOpenedByThreadletsAreCloseOnExecAndNonBlocking()
    {
        string path = TempFiles.WithContent("flags.bin", [1, 2, 3]);
        using var lt = new LoopThread();
        var (cloexec, nonblock) = await lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile file = await t.OpenAsync(path);
            return (Io.IsCloseOnExec(file.Descriptor), Io.IsNonBlocking(file.Descriptor));
        }).AsTask());
        Assert.True(cloexec);
        Assert.True(nonblock);
    }

    internal static async Task WaitUntil(Func<bool> condition, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(2);
        }
    }
}
