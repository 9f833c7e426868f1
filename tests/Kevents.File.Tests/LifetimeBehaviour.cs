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
        int fd = file.Descriptor.Fd;
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
        int fd = file.Descriptor.Fd;

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
