using Kevents.Tests;

namespace Kevents.Native.Tests;

public sealed class ErrnoClockAndLimitsTests : GatedTest
{
    [Fact]
    public void ErrnoDescribeNamesTheError()
    {
        Assert.Contains("Bad file descriptor", Errno.Describe(Errno.EBADF));
        Assert.StartsWith("EBADF", Errno.Describe(-Errno.EBADF));
        Assert.Equal("ECONNRESET", Errno.Name(-Errno.ECONNRESET));

        // A real failure carries the real errno: reading a descriptor that was never opened.
        Span<byte> buffer = stackalloc byte[1];
        Assert.Equal(-Errno.EBADF, Io.Read(-1, buffer));
    }

    [Fact]
    public void MonotonicClockNeverGoesBackwards()
    {
        long previous = MonotonicClock.Nanoseconds();
        Assert.True(previous > 0);
        for (int i = 0; i < 100_000; i++)
        {
            long now = MonotonicClock.Nanoseconds();
            Assert.True(now >= previous, $"clock went from {previous} back to {now}");
            previous = now;
        }

        // It also advances at the right rate: a 20 ms sleep takes at least 20 ms of it (the upper side is loose).
        long before = MonotonicClock.Nanoseconds();
        Thread.Sleep(20);
        long elapsed = MonotonicClock.Nanoseconds() - before;
        Assert.InRange(elapsed, 19_000_000, 10_000_000_000);
    }

    [Fact]
    public void ProcessLimitsReportsOpenFilesLimit()
    {
        long limit = ProcessLimits.OpenFilesLimit();
        Assert.True(limit > 0);
        // Every descriptor this process holds counts against the limit, so it cannot be below the current count.
        Assert.True(limit >= TestUtil.OpenFdCount(), $"limit {limit} is below the {TestUtil.OpenFdCount()} descriptors already open");
    }

    [Fact]
    public void CountFreeDescriptorsSeesEveryOpenDescriptorAndStopsWhenItHasEnough()
    {
        Assert.Equal(0, EventFd.Create(out FileDescriptor? anchor));
        using FileDescriptor probe = anchor!;
        int before = ProcessLimits.CountFreeDescriptors(probe.Fd, int.MaxValue);
        long open = Directory.GetFileSystemEntries("/proc/self/fd").Length - 1; // less the listing's own handle
        // Free plus open is the limit (give or take a descriptor the runtime opens or closes meanwhile).
        Assert.InRange(before + open, ProcessLimits.OpenFilesLimit() - 3, ProcessLimits.OpenFilesLimit() + 3);

        var held = new List<FileDescriptor>();
        try
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.Equal(0, EventFd.Create(out FileDescriptor? fd));
                held.Add(fd!);
            }
            int after = ProcessLimits.CountFreeDescriptors(probe.Fd, int.MaxValue);
            Assert.InRange(before - after, 8, 12);
        }
        finally
        {
            held.ForEach(fd => fd.Dispose());
        }
        Assert.Equal(5, ProcessLimits.CountFreeDescriptors(probe.Fd, 5));
        Assert.Equal(-Errno.EBADF, ProcessLimits.CountFreeDescriptors(-1, 5));
    }
}
