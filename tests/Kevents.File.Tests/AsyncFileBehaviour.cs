using System.Security.Cryptography;
using Kevents.Native;

namespace Kevents.File.Tests;

/// <summary>The behaviour every engine must show. Each derived class runs the whole suite on one engine.</summary>
public abstract partial class AsyncFileBehaviour : FileTest
{
    protected abstract AsyncFileEngine Engine { get; }

    protected virtual AsyncFileOptions Options => new() { Engine = Engine };

    protected ValueTask<AsyncFile> Open(EventLoop loop, string path, FileOpenFlags flags = FileOpenFlags.ReadOnly, CancellationToken token = default) =>
        AsyncFile.OpenAsync(loop, path, flags, Options, token);

    [Fact]
    public void WritesAndReadsRoundTripAtOffsets()
    {
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("rw.bin"), FileOpenFlags.ReadWrite | FileOpenFlags.Create);
            Assert.Equal(Engine, file.Engine);
            var first = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
            var second = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();
            Assert.Equal(first.Length, await file.WriteAsync(first, 0));
            Assert.True(loop.IsOnLoopThread, "a completion resumed off the loop thread");
            Assert.Equal(second.Length, await file.WriteAsync(second, 12_288));
            Assert.Equal(12_288 + 3000, await file.GetLengthAsync());

            var back = new byte[5000];
            await file.ReadExactlyAsync(back, 0);
            Assert.Equal(first, back);
            var back2 = new byte[3000];
            Assert.Equal(3000, await file.ReadAsync(back2, 12_288));
            Assert.True(loop.IsOnLoopThread, "a completion resumed off the loop thread");
            Assert.Equal(second, back2);
            var hole = new byte[100];
            await file.ReadExactlyAsync(hole, 6000);
            Assert.All(hole, b => Assert.Equal(0, b));
            Assert.Equal(0, await file.ReadAsync(new byte[10], 20_000));
        });
        Assert.Equal(15_288, System.IO.File.ReadAllBytes(PathOf("rw.bin")).Length);
    }

    [Fact]
    public void StreamsA64MiBFileThroughOneReusableBuffer()
    {
        const int length = 64 << 20;
        byte[] data = CreateFile("big.bin", length);
        byte[] expected = SHA256.HashData(data);
        data = null!;
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("big.bin"));
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[256 * 1024];
            long offset = 0;
            while (true)
            {
                int n = await file.ReadAsync(buffer, offset);
                if (n == 0)
                {
                    break;
                }
                hash.AppendData(buffer, 0, n);
                offset += n;
            }
            Assert.Equal(length, offset);
            Assert.Equal(expected, hash.GetHashAndReset());
        });
    }

    [Fact]
    public void FlushAndDataFlushSucceedAfterWrites()
    {
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("sync.bin"), FileOpenFlags.WriteOnly | FileOpenFlags.Create | FileOpenFlags.Truncate);
            await file.WriteAsync(new byte[8192], 0);
            await file.FlushAsync();
            await file.WriteAsync(new byte[100], 8192);
            await file.FlushAsync(dataOnly: true);
            FileStatus status = await file.StatAsync();
            Assert.Equal(8292, status.Length);
            Assert.True(status.IsRegularFile);
        });
    }

    [Fact]
    public void ReadExactlyPastTheEndSaysHowMuchItRead()
    {
        CreateFile("short.bin", 100);
        RunOnLoop(async loop =>
        {
            await using AsyncFile file = await Open(loop, PathOf("short.bin"));
            var error = await Assert.ThrowsAsync<EndOfStreamException>(async () => await file.ReadExactlyAsync(new byte[64], 50));
            Assert.Contains("read 50 of the 64", error.Message);
            Assert.Equal(50, await file.ReadAtLeastAsync(new byte[64], 64, 50, throwOnEndOfFile: false));
        });
    }

    [Fact]
    public void OpeningAMissingFileThrowsFileNotFoundNamingThePath()
    {
        string path = PathOf("no-such-file");
        RunOnLoop(async loop =>
        {
            var error = await Assert.ThrowsAsync<FileNotFoundException>(async () => await Open(loop, path));
            Assert.Equal(path, error.FileName);
            Assert.Contains(path, error.Message);
        });
    }

    [Fact]
    public void OpeningAForbiddenFileThrowsUnauthorizedAccessNamingThePath()
    {
        // Root ignores file permission bits, so chmod 000 proves nothing there; /proc/sys files without a write bit
        // refuse writers with EACCES even to root (proc_sys_permission checks the mode for every user).
        string path;
        FileOpenFlags flags;
        if (IsRoot())
        {
            path = "/proc/sys/kernel/osrelease";
            flags = FileOpenFlags.WriteOnly;
        }
        else
        {
            path = PathOf("forbidden.bin");
            System.IO.File.WriteAllBytes(path, [1]);
            System.IO.File.SetUnixFileMode(path, UnixFileMode.None);
            flags = FileOpenFlags.ReadOnly;
        }
        RunOnLoop(async loop =>
        {
            var error = await Assert.ThrowsAsync<UnauthorizedAccessException>(async () => await Open(loop, path, flags));
            Assert.Contains(path, error.Message);
        });
    }

    [Fact]
    public void OperationsStartedFromAnotherThreadResumeThere()
    {
        CreateFile("any.bin", 4096);
        var loop = new EventLoop(new EventLoopOptions { Name = "file-test-remote" });
        Task running = loop.RunAsync();
        try
        {
            Task.Run(async () =>
            {
                await using AsyncFile file = await Open(loop, PathOf("any.bin"));
                Assert.Equal(Engine, file.Engine);
                Assert.Equal(4096, await file.ReadAsync(new byte[8192], 0));
                Assert.False(loop.IsOnLoopThread);
            }).WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        }
        finally
        {
            loop.Dispose();
            running.Wait(TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public void KeventFormDeliversAioKeventsWithTheCallersUserData()
    {
        byte[] data = CreateFile("kev.bin", 1000);
        using var loop = new EventLoop(new EventLoopOptions { Name = "file-test-kevents" });
        Assert.Equal(Engine, loop.UseAsyncFiles(Options));
        var events = new Kevent[8];

        Kevent Next(ulong id)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < deadline)
            {
                int n = loop.Poll(events, TimeSpan.FromMilliseconds(50));
                if (n > 0)
                {
                    Assert.Equal(1, n);
                    Assert.Equal(KeventFilter.Aio, events[0].Filter);
                    Assert.Equal(id, events[0].Ident);
                    return events[0];
                }
            }
            throw new TimeoutException($"no Aio kevent for operation {id}");
        }

        ulong openId = loop.SubmitOpen(PathOf("kev.bin"), FileOpenFlags.ReadOnly, userData: 0x0A);
        Kevent opened = Next(openId);
        Assert.False(opened.IsError, opened.ToString());
        Assert.Equal(0x0AUL, opened.UserData);
        int fd = (int)opened.Data;

        var buffer = new byte[600];
        ulong readId = loop.SubmitRead(fd, buffer, 500, userData: 0x0B);
        Kevent read = Next(readId);
        Assert.Equal(0x0BUL, read.UserData);
        Assert.Equal(500, read.Data);
        Assert.Equal(data[500..], buffer[..500]);

        // With a handler: the kevent goes there instead of Poll.
        Kevent? handled = null;
        ulong statId = loop.SubmitFsync(fd, userData: 0x0C, handler: (in Kevent ev) => handled = ev);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (handled is null && DateTime.UtcNow < until)
        {
            Assert.Equal(0, loop.Poll(events, TimeSpan.FromMilliseconds(20)));
        }
        Assert.Equal(statId, handled!.Value.Ident);
        Assert.Equal(0x0CUL, handled.Value.UserData);
        Assert.Equal(0, handled.Value.Data);

        ulong missing = loop.SubmitOpen(PathOf("missing"), FileOpenFlags.ReadOnly, userData: 0x0D);
        Kevent failed = Next(missing);
        Assert.True(failed.IsError);
        Assert.Equal(-Errno.ENOENT, failed.Data);

        ulong closeId = loop.SubmitClose(fd, userData: 0x0E);
        Kevent closed = Next(closeId);
        Assert.Equal(0, closed.Data);
        Assert.Equal(0x0EUL, closed.UserData);
    }

    private static bool IsRoot() =>
        System.IO.File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0";
}
