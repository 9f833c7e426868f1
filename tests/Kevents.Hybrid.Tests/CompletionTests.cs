using System.Runtime.CompilerServices;

namespace Kevents.Hybrid.Tests;

public sealed class CompletionTests : HybridTest
{
    [Fact]
    public async Task OffloadedCompletionArrivesAsAThreadletKeventOnTheLoopThread()
    {
        using var lt = new LoopThread();
        var got = new TaskCompletionSource<(Kevent Kevent, int Thread)>(TaskCreationOptions.RunContinuationsAsynchronously);
        ulong id = await lt.OnLoop(() => Task.FromResult(lt.Loop.SubmitThreadlet(
            async t => await t.Blocking(() => 42L),
            userData: 0xfeed,
            handler: (in Kevent k) => got.TrySetResult((k, Environment.CurrentManagedThreadId)))));

        var (kevent, thread) = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(KeventFilter.Threadlet, kevent.Filter);
        Assert.Equal(id, kevent.Ident);
        Assert.Equal(0xfeedUL, kevent.UserData);
        Assert.Equal(42, kevent.Data);
        Assert.False(kevent.IsError);
        Assert.Equal(lt.ThreadId, thread);
    }

    [Fact]
    public void KeventFormDeliversToPollWhenNoHandlerIsGiven()
    {
        using var loop = new EventLoop();
        loop.UseThreadlets();
        var events = new Kevent[4];
        ulong inlineId = 0, offloadedId = 0;
        loop.Post(() =>
        {
            inlineId = loop.SubmitThreadlet(_ => ValueTask.FromResult(7L), userData: 1);
            offloadedId = loop.SubmitThreadlet(async t => await t.Blocking(() => 8L), userData: 2);
        });
        var seen = new Dictionary<ulong, Kevent>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (seen.Count < 2 && DateTime.UtcNow < deadline)
        {
            int n = loop.Poll(events, TimeSpan.FromMilliseconds(100));
            for (int i = 0; i < n; i++)
            {
                seen.Add(events[i].Ident, events[i]);
            }
        }
        Assert.Equal(7, seen[inlineId].Data);
        Assert.Equal(1UL, seen[inlineId].UserData);
        Assert.Equal(8, seen[offloadedId].Data);
        Assert.Equal(2UL, seen[offloadedId].UserData);
    }

    [Fact]
    public async Task FailedKeventThreadletCarriesErrorAndErrno()
    {
        using var lt = new LoopThread();
        var got = new TaskCompletionSource<Kevent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await lt.OnLoop(() => Task.FromResult(lt.Loop.SubmitThreadlet(async t =>
        {
            using ThreadletFile f = await t.OpenAsync("/nonexistent/kevents/file");
            return 0L;
        }, handler: (in Kevent k) => got.TrySetResult(k))));
        Kevent kevent = await got.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(kevent.IsError);
        Assert.Equal(-Errno.ENOENT, kevent.Data);
    }

    [Fact]
    public async Task ExceptionThrownOffTheLoopReachesTheAwaiterWithItsStack()
    {
        using var lt = new LoopThread();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            int n = await t.Blocking(() => 1);
            return ThrowFromAHelper(n);
        }).AsTask()));
        Assert.Equal("bad data 1", ex.Message);
        Assert.Contains(nameof(ThrowFromAHelper), ex.StackTrace);
    }

    [Fact]
    public async Task ExceptionThrownInlineReachesTheAwaiterWithItsStack()
    {
        using var lt = new LoopThread();
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => lt.OnLoop(() => lt.Loop.Threadlet(t =>
            ValueTask.FromResult(ThrowFromAHelper(2))).AsTask()));
        Assert.Contains(nameof(ThrowFromAHelper), ex.StackTrace);
    }

    [Fact]
    public async Task MissingFileThrowsFileNotFoundNamingThePathInlineAndOffloaded()
    {
        using var lt = new LoopThread();
        const string missing = "/nonexistent-kevents-dir/missing.txt";
        foreach (SimulatedBlocking mode in new[] { SimulatedBlocking.None, SimulatedBlocking.Open })
        {
            lt.Runtime.SimulateBlocking = mode;
            var ex = await Assert.ThrowsAsync<FileNotFoundException>(() => lt.OnLoop(() => lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile f = await t.OpenAsync(missing);
                return 0;
            }).AsTask()));
            Assert.Equal(missing, ex.FileName);
            Assert.Contains(missing, ex.Message);
        }
    }

    [Fact]
    public async Task PermissionDeniedThrowsUnauthorizedAccessNamingThePath()
    {
        string path;
        if (Environment.UserName == "root" || Native.ProcessLimits.OpenFilesLimit() < 0)
        {
            // Root passes permission bits, but kernfs refuses to open a read-only attribute for writing.
            path = "/sys/kernel/uevent_seqnum";
        }
        else
        {
            path = TempFiles.WithContent("denied.txt", [1]);
            File.SetUnixFileMode(path, UnixFileMode.None);
        }
        using var lt = new LoopThread();
        var ex = await Assert.ThrowsAsync<UnauthorizedAccessException>(() => lt.OnLoop(() => lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile f = await t.OpenAsync(path, FileOpenFlags.WriteOnly);
            return 0;
        }).AsTask()));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public async Task AwaitingFromAnotherThreadDeliversTheResultThere()
    {
        string path = TempFiles.WithContent("cross.bin", TempFiles.Bytes(100, seed: 9));
        using var lt = new LoopThread();
        var buffer = new byte[100];

        // Called and awaited on a thread-pool thread, not the loop.
        int inline = await Task.Run(async () => await lt.Loop.Threadlet(async t =>
        {
            using ThreadletFile f = await t.OpenAsync(path);
            return await t.ReadAsync(f, buffer, 0);
        }));
        lt.Runtime.SimulateBlocking = SimulatedBlocking.Read;
        var (offloaded, resumedOn) = await Task.Run(async () =>
        {
            int n = await lt.Loop.Threadlet(async t =>
            {
                using ThreadletFile f = await t.OpenAsync(path);
                return await t.ReadAsync(f, buffer, 0);
            });
            return (n, Environment.CurrentManagedThreadId);
        });

        Assert.Equal(100, inline);
        Assert.Equal(100, offloaded);
        Assert.NotEqual(lt.ThreadId, resumedOn);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ThrowFromAHelper(int n) => throw new InvalidDataException($"bad data {n}");
}
