using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.File.Tests;

// The kevent forms share one verb family and one id space: file submissions and threadlet submissions draw their ids
// from the loop's allocator, so CancelSubmission can never cancel a file operation when given a threadlet's id.
public sealed class SubmissionNamingTests : FileTest
{
    [Fact]
    public void CancelSubmissionLeavesAThreadletAloneAndIdsOfBothKindsNeverOverlap()
    {
        CreateFile("ids.bin", 10);
        using var loop = new EventLoop(new EventLoopOptions { Name = "file-test-ids" });
        loop.UseAsyncFiles(new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet });
        using var gate = new ManualResetEventSlim();
        var seen = new Dictionary<ulong, Kevent>();
        ulong threadletId = loop.SubmitThreadlet(async t => await t.Blocking(() =>
        {
            gate.Wait(TimeSpan.FromSeconds(10));
            return 42L;
        }), userData: 1, handler: (in Kevent ev) => seen[ev.Ident] = ev);
        ulong openId = loop.SubmitOpen(PathOf("ids.bin"), FileOpenFlags.ReadOnly, userData: 2, handler: (in Kevent ev) => seen[ev.Ident] = ev);

        Assert.NotEqual(threadletId, openId);
        Assert.True(threadletId >= EventLoop.FirstAllocatedIdent && openId >= EventLoop.FirstAllocatedIdent,
            $"submission ids {threadletId} and {openId} come from the loop's allocator");
        Assert.False(loop.CancelSubmission(threadletId), "a threadlet's id names no file submission");
        gate.Set();

        var events = new Kevent[4];
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (seen.Count < 2 && DateTime.UtcNow < until)
        {
            loop.Poll(events, TimeSpan.FromMilliseconds(20));
        }
        Assert.Equal(42, seen[threadletId].Data);
        Assert.Equal(KeventFilter.Threadlet, seen[threadletId].Filter);
        Kevent opened = seen[openId];
        Assert.False(opened.IsError, opened.ToString());
        Io.Close((int)opened.Data);
    }

    [Fact]
    public void AsyncFileOptionsAreSetLikeTheOtherOptionsAndOutOfRangeValuesAreRefusedByName()
    {
        using var loop = new EventLoop();
        var options = new AsyncFileOptions();
        options.RingEntries = 0;
        Assert.Equal(nameof(AsyncFileOptions.RingEntries), Assert.Throws<ArgumentOutOfRangeException>(() => loop.UseAsyncFiles(options)).ParamName);
        options.RingEntries = 64;
        options.ShutdownTimeout = TimeSpan.FromSeconds(-1);
        Assert.Equal(nameof(AsyncFileOptions.ShutdownTimeout), Assert.Throws<ArgumentOutOfRangeException>(() => loop.UseAsyncFiles(options)).ParamName);
        options.ShutdownTimeout = TimeSpan.Zero;
        options.Engine = (AsyncFileEngine)42;
        Assert.Equal(nameof(AsyncFileOptions.Engine), Assert.Throws<ArgumentOutOfRangeException>(() => loop.UseAsyncFiles(options)).ParamName);

        options.Engine = AsyncFileEngine.Threadlet;
        Assert.Equal(AsyncFileEngine.Threadlet, loop.UseAsyncFiles(options));
    }

    [Fact]
    public void DescriptorIsTheIntFdTheFileOwns()
    {
        CreateFile("fd.bin", 3);
        RunOnLoop(async loop =>
        {
            AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("fd.bin"));
            int fd = file.Descriptor;
            Assert.True(fd >= 0);
            Assert.True(Io.IsCloseOnExec(fd), "the fd is the file's own, CLOEXEC");
            await file.DisposeAsync();
            Assert.Equal(-1, file.Descriptor);
        });
    }
}
