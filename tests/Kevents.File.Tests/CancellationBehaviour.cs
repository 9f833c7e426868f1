using Kevents.Tests;
using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.File.Tests;

// docs/reliability.md (tokio #7979): opens and reads cancelled before they complete, after they complete but before the
// loop delivered them, and still in flight when the loop shuts down. Each must complete exactly once, and the
// process's descriptor count must come back to exactly where it was.
public abstract partial class AsyncFileBehaviour
{
    private const int Many = 128;

    /// <summary>Makes the threadlet engine's operations really leave the loop, so they are in flight when cancelled.</summary>
    protected virtual void MakeOperationsSlow(EventLoop loop)
    {
    }

    /// <summary>
    /// True when an operation cannot complete between its start and a cancel on the same loop turn (io_uring: nothing
    /// is delivered until the loop reaps). A threadlet may finish on its thread and be delivered first.
    /// </summary>
    protected virtual bool CancelAlwaysBeatsCompletion => true;

    [Fact]
    public void OpensCancelledBeforeTheyCompleteLeaveNoDescriptor()
    {
        CreateFile("c.bin", 10);
        int cancelled = 0, opened = 0;
        RunOnLoop(async loop =>
        {
            using var cts = new CancellationTokenSource();
            var tasks = new List<Task<AsyncFile>>();
            for (int i = 0; i < Many; i++)
            {
                tasks.Add(Open(loop, PathOf("c.bin"), token: cts.Token).AsTask());
            }
            cts.Cancel();
            foreach (Task<AsyncFile> task in tasks)
            {
                try
                {
                    (await task).Dispose();
                    opened++;
                }
                catch (OperationCanceledException)
                {
                    cancelled++;
                }
            }
        }, configure: MakeOperationsSlow);
        Assert.Equal(Many, cancelled + opened);
        if (CancelAlwaysBeatsCompletion)
        {
            Assert.True(cancelled == Many, $"{opened} of {Many} opens completed despite being cancelled first");
        }
        else
        {
            Assert.True(cancelled > 0, "no open was cancelled");
        }
    }

    [Fact]
    public void OpensCancelledAfterTheKernelFinishedCloseWhatTheyOpened()
    {
        CreateFile("c.bin", 10);
        int cancelled = 0, opened = 0;
        RunOnLoop(async loop =>
        {
            using var cts = new CancellationTokenSource();
            var tasks = new List<Task<AsyncFile>>();
            for (int i = 0; i < Many; i++)
            {
                tasks.Add(Open(loop, PathOf("c.bin"), token: cts.Token).AsTask());
            }
            // Posted after the engine's flush, so this runs once the opens were submitted: hold the loop until the
            // kernel (or the cache-miss threads) have finished them, then cancel before the loop reaps the results.
            var cancelledNow = new TaskCompletionSource();
            loop.Post(() =>
            {
                Thread.Sleep(200);
                cts.Cancel();
                cancelledNow.SetResult();
            });
            await cancelledNow.Task;
            foreach (Task<AsyncFile> task in tasks)
            {
                try
                {
                    (await task).Dispose();
                    opened++;
                }
                catch (OperationCanceledException)
                {
                    cancelled++;
                }
            }
        }, configure: MakeOperationsSlow);
        Assert.Equal(Many, cancelled + opened);
        if (CancelAlwaysBeatsCompletion)
        {
            Assert.Equal(Many, cancelled);
        }
    }

    [Fact]
    public void OpensInFlightWhenTheLoopShutsDownLeaveNoDescriptor()
    {
        CreateFile("c.bin", 10);
        var tasks = new List<Task<AsyncFile>>();
        RunOnLoop(loop =>
        {
            for (int i = 0; i < Many; i++)
            {
                tasks.Add(Open(loop, PathOf("c.bin")).AsTask());
            }
            loop.Dispose(); // from the loop thread: takes effect when this turn ends, with the opens in flight
            return Task.CompletedTask;
        }, configure: MakeOperationsSlow, disposeFromBody: true);
        Assert.True(WaitQuietly(Task.WhenAll(tasks)), "some opens never completed after the loop shut down");
        int outcomes = 0;
        foreach (Task<AsyncFile> task in tasks)
        {
            // Threadlet opens that finished inline completed before the dispose; the rest end cancelled.
            if (task.IsCompleted)
            {
                outcomes++;
                if (task.IsCompletedSuccessfully)
                {
                    task.Result.Dispose();
                }
            }
        }
        Assert.Equal(Many, outcomes);
    }

    [Fact]
    public void ReadsOfAFifoCancelledWhileWaitingCompleteOnceEach()
    {
        string fifo = PathOf("fifo");
        TestUtil.Ok(NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite), "mkfifo");
        int cancelled = 0;
        RunOnLoop(async loop =>
        {
            await using AsyncFile reader = await Open(loop, fifo);
            TestUtil.Ok(NativeFile.Open(fifo, FileOpenFlags.WriteOnly, 0, cachedOnly: false, out FileDescriptor? writer), "open writer");
            using (writer)
            {
                using var cts = new CancellationTokenSource();
                var buffers = new byte[16][];
                var reads = new List<Task<int>>();
                for (int i = 0; i < 16; i++)
                {
                    buffers[i] = new byte[8];
                    reads.Add(reader.ReadAsync(buffers[i], 0, cts.Token).AsTask());
                }
                await Task.Delay(100);
                Assert.All(reads, r => Assert.False(r.IsCompleted));
                cts.Cancel();
                foreach (Task<int> read in reads)
                {
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
                    cancelled++;
                }
            }
        });
        Assert.Equal(16, cancelled);
    }
}
