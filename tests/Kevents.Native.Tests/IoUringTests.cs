using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Kevents.Native;
using Kevents.Tests;

namespace Kevents.Native.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FdCountingCollection
{
    // Tests that compare /proc/self/fd counts, or set process environment variables, run alone.
    public const string Name = "fd counting";
}

[Collection(FdCountingCollection.Name)]
public sealed class IoUringTests : IDisposable
{
    private const int AtFdCwd = -100;
    private const int ORdOnly = 0;
    private const int ORdWr = 2;
    private const uint StatxSize = 0x200;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private readonly int _baselineFds;
    private readonly DirectoryInfo _dir;

    public IoUringTests()
    {
        _dir = Directory.CreateTempSubdirectory("kevents-uring-");
        _baselineFds = FdCount();
    }

    public void Dispose()
    {
        int now = FdCount();
        _dir.Delete(recursive: true);
        Assert.True(_baselineFds == now, $"fd count {now}, baseline {_baselineFds}: {DescribeFds()}");
    }

    [IoUringFact]
    public void CreateAndDisposeLeaveFdCountAtBaseline()
    {
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(0, IoUringRing.Create(8, out IoUringRing? ring));
            Assert.NotNull(ring);
            Assert.True(ring.SubmissionQueueSize >= 8);
            ring.Dispose();
            ring.Dispose(); // idempotent
        }
        Assert.Equal(_baselineFds, FdCount());
    }

    [IoUringFact]
    public void ABufferRingStartsWithOneChunkAndGrowsAChunkAtATimeToItsCapacity()
    {
        Assert.Equal(0, IoUringRing.Create(8, out IoUringRing? ring));
        using (ring)
        {
            Assert.Equal(0, IoUringBufferRing.Create(ring!.RingFd, capacity: 8, chunkSize: 2, bufferSize: 4096, group: 3, out IoUringBufferRing? buffers));
            using (buffers)
            {
                Assert.Equal(2, buffers!.Count);
                Assert.Equal(8, buffers.Capacity);
                Assert.True(buffers.Grow());
                Assert.True(buffers.Grow());
                Assert.True(buffers.Grow());
                Assert.Equal(8, buffers.Count);
                Assert.False(buffers.Grow());
                Assert.Equal(8, buffers.Count);
                // Every buffer, in any chunk, is a whole buffer of its own.
                Assert.Equal(4096, buffers.Bytes(7, 5000).Length);
            }
        }
    }

    [IoUringFact]
    public void ABufferRingRefusesSizesThatAreNotPowersOfTwoOrAChunkLargerThanItsCapacity()
    {
        Assert.Equal(0, IoUringRing.Create(8, out IoUringRing? ring));
        using (ring)
        {
            Assert.Equal(-Errno.EINVAL, IoUringBufferRing.Create(ring!.RingFd, 12, 4, 4096, 0, out IoUringBufferRing? buffers));
            Assert.Null(buffers);
            Assert.Equal(-Errno.EINVAL, IoUringBufferRing.Create(ring.RingFd, 8, 3, 4096, 0, out buffers));
            Assert.Equal(-Errno.EINVAL, IoUringBufferRing.Create(ring.RingFd, 8, 16, 4096, 0, out buffers));
            Assert.Null(buffers);
        }
    }

    [IoUringFact]
    public void CreateWithZeroEntriesReturnsEinvalAsAValue()
    {
        Assert.Equal(-Errno.EINVAL, IoUringRing.Create(0, out IoUringRing? ring));
        Assert.Null(ring);
    }

    [IoUringFact]
    public void RingAndCompletionEventFdAreCloseOnExec()
    {
        using IoUringRing ring = CreateRing(8);
        Assert.True(Io.IsCloseOnExec(ring.RingFd));
        Assert.True(Io.IsCloseOnExec(ring.CompletionEventFd));
        Assert.True(Io.IsNonBlocking(ring.CompletionEventFd));
    }

    [IoUringFact]
    public void ProbeReportsTheFileOpcodes()
    {
        using IoUringRing ring = CreateRing(8);
        foreach (byte op in new[] { IoUringOpcode.Nop, IoUringOpcode.OpenAt, IoUringOpcode.Read, IoUringOpcode.Write,
                     IoUringOpcode.Fsync, IoUringOpcode.Statx, IoUringOpcode.Close, IoUringOpcode.AsyncCancel, IoUringOpcode.PollAdd })
        {
            Assert.True(ring.Supports(op), $"opcode {op} not reported as supported");
        }
        Assert.False(ring.Supports(255));
        Assert.True(ring.Features.HasFlag(IoUringFeatures.NoDrop));
    }

    [IoUringFact]
    public void NopRoundTripPreservesUserData()
    {
        using IoUringRing ring = CreateRing(8);
        const ulong userData = 0xDEAD_BEEF_0123_4567;
        Assert.True(ring.PrepareNop(userData));
        Assert.Equal(1, ring.Submit());
        IoUringCompletion c = ReapOne(ring);
        Assert.Equal(userData, c.UserData);
        Assert.Equal(0, c.Result);
        Assert.False(ring.TryReap(out _));
    }

    [IoUringFact]
    public void OpenReadCloseReturnsExactlyTheFileBytes()
    {
        byte[] content = new byte[10_000];
        new Random(42).NextBytes(content);
        string file = Path.Combine(_dir.FullName, "data.bin");
        File.WriteAllBytes(file, content);

        using IoUringRing ring = CreateRing(8);
        using MemoryHandle path = PinnedPath(file, out _);
        Assert.True(ring.PrepareOpenAt(AtFdCwd, path, ORdOnly, 0, 1));
        Assert.Equal(1, ring.Submit());
        IoUringCompletion open = ReapOne(ring);
        Assert.Equal(1UL, open.UserData);
        Assert.True(open.Result >= 0, Errno.Describe(open.Result));
        int fd = open.Result;
        Assert.True(Io.IsCloseOnExec(fd));

        byte[] buffer = GC.AllocateArray<byte>(content.Length + 100, pinned: true);
        using (MemoryHandle pinned = buffer.AsMemory().Pin())
        {
            Assert.True(ring.PrepareRead(fd, pinned, (uint)buffer.Length, 0, 2));
            Assert.Equal(1, ring.Submit());
            IoUringCompletion read = ReapOne(ring);
            Assert.Equal(2UL, read.UserData);
            Assert.Equal(content.Length, read.Result);
        }
        Assert.Equal(content, buffer.AsSpan(0, content.Length).ToArray());

        Assert.True(ring.PrepareClose(fd, 3));
        Assert.Equal(1, ring.Submit());
        IoUringCompletion close = ReapOne(ring);
        Assert.Equal(new IoUringCompletion(3, 0, 0), close);
    }

    [IoUringFact]
    public void WriteAtOffsetThenReadBack()
    {
        string file = Path.Combine(_dir.FullName, "write.bin");
        File.WriteAllBytes(file, new byte[100]);
        using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.ReadWrite);
        int fd = (int)handle.DangerousGetHandle();

        using IoUringRing ring = CreateRing(8);
        byte[] data = GC.AllocateArray<byte>(16, pinned: true);
        "kevents io_uring"u8.CopyTo(data);
        using (MemoryHandle pinned = data.AsMemory().Pin())
        {
            Assert.True(ring.PrepareWrite(fd, pinned, (uint)data.Length, 4096, 10));
            Assert.Equal(1, ring.Submit());
            Assert.Equal(new IoUringCompletion(10, data.Length, 0), ReapOne(ring));
        }

        byte[] back = GC.AllocateArray<byte>(64, pinned: true);
        using (MemoryHandle pinned = back.AsMemory().Pin())
        {
            Assert.True(ring.PrepareRead(fd, pinned, (uint)back.Length, 4096, 11));
            Assert.Equal(1, ring.Submit());
            Assert.Equal(new IoUringCompletion(11, data.Length, 0), ReapOne(ring));
        }
        Assert.Equal(data, back.AsSpan(0, data.Length).ToArray());
        Assert.Equal(4096 + data.Length, new FileInfo(file).Length);
    }

    [IoUringFact]
    public void FsyncAndFdatasyncSucceed()
    {
        string file = Path.Combine(_dir.FullName, "sync.bin");
        File.WriteAllBytes(file, new byte[4096]);
        using var handle = File.OpenHandle(file, FileMode.Open, FileAccess.ReadWrite);
        int fd = (int)handle.DangerousGetHandle();

        using IoUringRing ring = CreateRing(8);
        Assert.True(ring.PrepareFsync(fd, dataOnly: false, 20));
        Assert.True(ring.PrepareFsync(fd, dataOnly: true, 21));
        Assert.Equal(2, ring.Submit());
        var results = new[] { ReapOne(ring), ReapOne(ring) }.OrderBy(c => c.UserData).ToArray();
        Assert.Equal(new IoUringCompletion(20, 0, 0), results[0]);
        Assert.Equal(new IoUringCompletion(21, 0, 0), results[1]);
    }

    [IoUringFact]
    public void StatxReportsTheFileSize()
    {
        string file = Path.Combine(_dir.FullName, "stat.bin");
        File.WriteAllBytes(file, new byte[12_345]);

        using IoUringRing ring = CreateRing(8);
        using MemoryHandle path = PinnedPath(file, out _);
        byte[] statx = GC.AllocateArray<byte>(IoUringRing.StatxBufferSize, pinned: true);
        using (MemoryHandle buffer = statx.AsMemory().Pin())
        {
            Assert.True(ring.PrepareStatx(AtFdCwd, path, 0, StatxSize, buffer, 30));
            Assert.Equal(1, ring.Submit());
            Assert.Equal(new IoUringCompletion(30, 0, 0), ReapOne(ring));
        }
        uint mask = BinaryPrimitives.ReadUInt32LittleEndian(statx);
        Assert.NotEqual(0u, mask & StatxSize);
        Assert.Equal(12_345UL, BinaryPrimitives.ReadUInt64LittleEndian(statx.AsSpan(40)));
    }

    [IoUringFact]
    public void OpenOfMissingPathCompletesWithEnoent()
    {
        using IoUringRing ring = CreateRing(8);
        using MemoryHandle path = PinnedPath(Path.Combine(_dir.FullName, "missing"), out _);
        Assert.True(ring.PrepareOpenAt(AtFdCwd, path, ORdOnly, 0, 40));
        // The error belongs to the operation: Submit still reports it consumed, and the completion carries -ENOENT.
        Assert.Equal(1, ring.Submit());
        Assert.Equal(new IoUringCompletion(40, -Errno.ENOENT, 0), ReapOne(ring));
    }

    [IoUringFact]
    public void CompletionEventFdBecomesReadableAfterACompletion()
    {
        using IoUringRing ring = CreateRing(8);
        Assert.Equal(0, Epoll.Create(out FileDescriptor? epoll));
        using (epoll)
        {
            Assert.Equal(0, Epoll.Control(epoll!.Fd, Epoll.Add, ring.CompletionEventFd, EpollFlags.In, 7));
            var events = new EpollEvent[4];
            Assert.Equal(0, Epoll.Wait(epoll.Fd, events, 0));

            Assert.True(ring.PrepareNop(50));
            Assert.Equal(1, ring.Submit());
            int n = Epoll.Wait(epoll.Fd, events, (int)s_timeout.TotalMilliseconds);
            Assert.Equal(1, n);
            Assert.Equal(7UL, events[0].Data);
            Assert.True(events[0].Events.HasFlag(EpollFlags.In));

            Assert.True(EventFd.Drain(ring.CompletionEventFd) >= 1);
            Assert.True(ring.TryReap(out IoUringCompletion c));
            Assert.Equal(50UL, c.UserData);
            Assert.Equal(0, Epoll.Wait(epoll.Fd, events, 0));
        }
    }

    [IoUringFact]
    public void TinyRingOverflowLosesNoCompletion()
    {
        using IoUringRing ring = CreateRing(2, new IoUringSetupOptions { CompletionQueueSize = 2 });
        Assert.Equal(2u, ring.SubmissionQueueSize);
        Assert.Equal(2u, ring.CompletionQueueSize);

        const int total = 64;
        var seen = new List<ulong>();
        bool overflowed = false;
        ulong next = 1000;
        while (next < 1000 + total)
        {
            while (next < 1000 + total && ring.PrepareNop(next))
            {
                next++;
            }
            int rc = ring.Submit();
            if (rc is -Errno.EBUSY or -Errno.EAGAIN)
            {
                // The kernel refuses more work until completions are reaped: the documented contract of Submit.
                DrainInto(ring, seen);
                continue;
            }
            Assert.True(rc >= 0, Errno.Describe(rc));
            overflowed |= ring.HasOverflow;
        }

        Assert.True(overflowed, "64 completions into a 2-entry CQ without reaping never overflowed");
        Assert.True(ring.PendingCompletions <= 2);
        DrainInto(ring, seen);

        Assert.Equal(Enumerable.Range(1000, total).Select(i => (ulong)i), seen.OrderBy(u => u));
        Assert.Equal(0u, ring.DroppedCompletions);
        Assert.False(ring.HasOverflow);
        Assert.False(ring.TryReap(out _));
    }

    [IoUringFact]
    public void FullSubmissionQueueRefusesUntilSubmitted()
    {
        using IoUringRing ring = CreateRing(2);
        Assert.Equal(2u, ring.SubmissionQueueSize);
        Assert.True(ring.PrepareNop(1));
        Assert.True(ring.PrepareNop(2));
        Assert.False(ring.PrepareNop(3));
        Assert.Equal(2, ring.PendingSubmissions);

        Assert.Equal(2, ring.Submit());
        Assert.Equal(0, ring.PendingSubmissions);
        Assert.True(ring.PrepareNop(3));
        Assert.Equal(1, ring.Submit());
        Assert.Equal(0, ring.Submit()); // nothing left: no system call, no error

        var seen = new List<ulong>();
        for (int i = 0; i < 3; i++)
        {
            seen.Add(ReapOne(ring).UserData);
        }
        Assert.Equal(new ulong[] { 1, 2, 3 }, seen.OrderBy(u => u));
    }

    [IoUringFact]
    public void CancelOfPendingPollGivesOneCompletionEach()
    {
        Assert.Equal(0, Io.Pipe(out FileDescriptor? readEnd, out FileDescriptor? writeEnd));
        using (readEnd)
        using (writeEnd)
        using (IoUringRing ring = CreateRing(8))
        {
            // A poll for input on an empty pipe stays pending until data arrives or it is cancelled.
            Assert.True(ring.PreparePollAdd(readEnd!.Fd, EpollFlags.In, 60));
            Assert.Equal(1, ring.Submit());
            Thread.Sleep(50);
            Assert.False(ring.TryReap(out _));

            Assert.True(ring.PrepareCancel(60, 61));
            Assert.Equal(1, ring.Submit());
            var results = new[] { ReapOne(ring), ReapOne(ring) }.OrderBy(c => c.UserData).ToArray();
            Assert.Equal(new IoUringCompletion(60, -Errno.ECANCELED, 0), results[0]);
            Assert.Equal(new IoUringCompletion(61, 0, 0), results[1]);

            // Exactly one completion each: data arriving now wakes nothing, and a second cancel finds nothing.
            Assert.Equal(1, Io.Write(writeEnd!.Fd, "x"u8));
            Assert.True(ring.PrepareCancel(60, 62));
            Assert.Equal(1, ring.Submit());
            Assert.Equal(new IoUringCompletion(62, -Errno.ENOENT, 0), ReapOne(ring));
            Thread.Sleep(50);
            Assert.False(ring.TryReap(out _));
        }
    }

    [IoUringFact]
    public void PollOnReadyPipeReportsReadiness()
    {
        Assert.Equal(0, Io.Pipe(out FileDescriptor? readEnd, out FileDescriptor? writeEnd));
        using (readEnd)
        using (writeEnd)
        using (IoUringRing ring = CreateRing(8))
        {
            Assert.Equal(1, Io.Write(writeEnd!.Fd, "x"u8));
            Assert.True(ring.PreparePollAdd(readEnd!.Fd, EpollFlags.In, 70));
            Assert.Equal(1, ring.Submit());
            IoUringCompletion c = ReapOne(ring);
            Assert.Equal(70UL, c.UserData);
            Assert.True(((EpollFlags)c.Result).HasFlag(EpollFlags.In));
        }
    }

    [IoUringFact]
    public void DisposedRingAnswersWithValuesNotCrashes()
    {
        IoUringRing ring = CreateRing(2);
        ring.Dispose();
        Assert.False(ring.PrepareNop(1));
        Assert.Equal(-Errno.EBADF, ring.Submit());
        Assert.False(ring.TryReap(out _));
        Assert.Equal(-1, ring.RingFd);
    }

    [Fact]
    public void RefusedSetupIsReturnedAsAValueWithoutARingOrADescriptor()
    {
        int before = TestUtil.OpenFdCount();
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.IoUringSetup, Errno.EPERM, 1)))
        {
            Assert.Equal(-Errno.EPERM, IoUringRing.Create(8, out IoUringRing? ring));
            Assert.Null(ring);
        }
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.IoUringSetup, Errno.ENOSYS, 1)))
        {
            Assert.Equal(-Errno.ENOSYS, IoUringRing.Create(8, out IoUringRing? ring));
            Assert.Null(ring);
        }
        Assert.Equal(before, TestUtil.OpenFdCount());
    }

    [Fact]
    public void EnvironmentSwitchMakesCreateReturnEperm()
    {
        string? previous = Environment.GetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, "0");
            Assert.Equal(-Errno.EPERM, IoUringRing.Create(8, out IoUringRing? ring));
            Assert.Null(ring);
        }
        finally
        {
            Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, previous);
        }
    }

    private static IoUringRing CreateRing(uint entries, IoUringSetupOptions? options = null)
    {
        int rc = IoUringRing.Create(entries, out IoUringRing? ring, options);
        Assert.True(rc == 0, $"IoUringRing.Create failed: {Errno.Describe(rc)}");
        return ring!;
    }

    /// <summary>Waits (polling, bounded) for the next completion.</summary>
    private static IoUringCompletion ReapOne(IoUringRing ring)
    {
        DateTime deadline = DateTime.UtcNow + s_timeout;
        while (true)
        {
            if (ring.TryReap(out IoUringCompletion c))
            {
                return c;
            }
            Assert.True(DateTime.UtcNow < deadline, "no completion within the timeout");
            Thread.Sleep(1);
        }
    }

    private static void DrainInto(IoUringRing ring, List<ulong> seen)
    {
        while (ring.TryReap(out IoUringCompletion c))
        {
            Assert.Equal(0, c.Result);
            seen.Add(c.UserData);
        }
    }

    private static MemoryHandle PinnedPath(string path, out byte[] bytes)
    {
        bytes = GC.AllocateArray<byte>(Encoding.UTF8.GetByteCount(path) + 1, pinned: true);
        Encoding.UTF8.GetBytes(path, bytes);
        return bytes.AsMemory().Pin();
    }

    private static string DescribeFds() => string.Join(", ",
        new DirectoryInfo("/proc/self/fd").GetFileSystemInfos()
            .Where(f => f.LinkTarget?.EndsWith(".dll", StringComparison.Ordinal) != true)
            .Select(f => $"{f.Name}->{f.LinkTarget}"));

    /// <summary>
    /// Open descriptors of this process, leaving out the runtime's mappings of assemblies: those appear whenever a
    /// test first touches an assembly (xunit.assert, System.Linq, ...) and stay for the life of the process.
    /// </summary>
    private static int FdCount() => new DirectoryInfo("/proc/self/fd").GetFileSystemInfos()
        .Count(f => f.LinkTarget is not { } target || !target.EndsWith(".dll", StringComparison.Ordinal));
}
