using Kevents.Tests;
using Kevents.Native;

namespace Kevents.File.Tests;

// Issue 8 items 5 and 31: an operation started on a loop that is gone (or that goes before it runs the start) still
// completes exactly once, with a clear error, and holds neither the descriptor nor the buffer afterwards; a file
// disposed with a read in flight lets that read finish.
public abstract partial class AsyncFileBehaviour
{
    /// <summary>True while descriptor <paramref name="fd"/> is open on <paramref name="path"/>.</summary>
    protected static bool IsOpenOn(int fd, string path)
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

    /// <summary>Opens <paramref name="path"/> on <paramref name="loop"/> by running the loop until the open finished; the loop stays undisposed.</summary>
    private AsyncFile OpenAndStop(EventLoop loop, string path)
    {
        AsyncFile? file = null;
        Exception? failure = null;
        loop.Post(async () =>
        {
            try
            {
                file = await Open(loop, path);
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
        using var watchdog = new Timer(_ => loop.Stop(), null, TimeSpan.FromSeconds(20), Timeout.InfiniteTimeSpan);
        loop.Run();
        Assert.Null(failure);
        return file!;
    }

    [Fact]
    public void AReadStartedAfterTheLoopIsDisposedFailsAndHoldsNothing()
    {
        CreateFile("gone.bin", 100);
        string path = PathOf("gone.bin");
        var loop = new EventLoop(new EventLoopOptions { Name = "gone" });
        AsyncFile file = OpenAndStop(loop, path);
        int fd = file.Descriptor;
        loop.Dispose();

        Task<int> read;
        try
        {
            read = file.ReadAsync(new byte[10], 0).AsTask();
        }
        catch (ObjectDisposedException thrown)
        {
            // Thrown at once or through the task: either is a clear answer; what matters is what stays held.
            read = Task.FromException<int>(thrown);
        }
        Assert.True(WaitQuietly(read));
        var error = Assert.IsType<ObjectDisposedException>(read.Exception?.InnerException);
        Assert.Contains("gone", error.Message);

        file.Dispose();
        Assert.False(IsOpenOn(fd, path), "the read kept a reference on the descriptor after it failed");
    }

    [Fact]
    public void AReadPostedToALoopThatIsDisposedBeforeRunningItCompletesOnce()
    {
        CreateFile("dropped.bin", 100);
        string path = PathOf("dropped.bin");
        var loop = new EventLoop(new EventLoopOptions { Name = "dropped" });
        AsyncFile file = OpenAndStop(loop, path);
        int fd = file.Descriptor;

        // The loop is not running: the start is posted, and the loop is disposed without ever running it.
        Task<int> read = file.ReadAsync(new byte[10], 0).AsTask();
        Assert.False(read.IsCompleted);
        loop.Dispose();

        Assert.True(WaitQuietly(read), "the read never completed");
        var error = Assert.IsType<ObjectDisposedException>(read.Exception?.InnerException);
        Assert.Contains("dropped", error.Message);

        file.Dispose();
        Assert.False(IsOpenOn(fd, path), "the dropped read kept a reference on the descriptor");
    }
}

// Issue 8 item 31: one offset rule for AsyncFile and threadlets, and what Dispose does to reads in flight.
public abstract partial class AsyncFileBehaviour
{
    [Fact]
    public void OffsetMinusOneReadsAndWritesAtTheCurrentPositionAndOtherNegativesAreRejected()
    {
        byte[] data = CreateFile("pos.bin", 100);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("pos.bin"), FileOpenFlags.ReadWrite);
            var first = new byte[40];
            var second = new byte[40];
            await file.ReadExactlyAsync(first, -1);
            await file.ReadExactlyAsync(second, -1);
            Assert.Equal(data[..40], first);
            Assert.Equal(data[40..80], second);
            Assert.Equal(5, await file.WriteAsync(new byte[] { 1, 2, 3, 4, 5 }, -1));
            Assert.Equal(15, await file.ReadAsync(new byte[40], -1));

            var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await file.ReadAsync(new byte[4], -2));
            Assert.Contains("-1", error.Message);
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await file.WriteAsync(new byte[4], long.MinValue));
        });
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, System.IO.File.ReadAllBytes(PathOf("pos.bin"))[80..85]);
    }

    [Fact]
    public void DisposingTheFileLetsAReadInFlightFinishAndRefusesNewOnes()
    {
        string fifo = PathOf("fifo");
        TestUtil.Ok(NativeFile.CreateFifo(fifo, UnixFileMode.UserRead | UnixFileMode.UserWrite), "mkfifo");
        RunOnLoop(async loop =>
        {
            AsyncFile reader = await Open(loop, fifo);
            int fd = reader.Descriptor;
            TestUtil.Ok(NativeFile.Open(fifo, FileOpenFlags.WriteOnly, 0, cachedOnly: false, out FileDescriptor? writer), "open writer");
            using (writer)
            {
                var buffer = new byte[8];
                Task<int> read = reader.ReadAsync(buffer, 0).AsTask();
                await Task.Delay(50);
                Assert.False(read.IsCompleted);
                reader.Dispose();
                await Assert.ThrowsAsync<ObjectDisposedException>(async () => await reader.ReadAsync(new byte[8], 0));
                Assert.True(IsOpenOn(fd, fifo), "the descriptor closed under a read in flight");
                Assert.False(read.IsCompleted, "disposing the file completed a read in flight");
                Assert.Equal(5, Io.Write(writer!.Fd, "hello"u8));
                Assert.Equal(5, await read.WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.Equal("hello"u8.ToArray(), buffer[..5]);
                Assert.False(IsOpenOn(fd, fifo), "the descriptor stayed open after the last read completed");
            }
        });
    }
}
