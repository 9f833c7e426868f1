using System.Net.Sockets;
using Kevents.Tests;

namespace Kevents.Native.Tests;

/// <summary>The fault switch itself: what an armed plan does to the wrappers, and that disarming restores them.</summary>
public sealed class FaultInjectionTests : GatedTest
{
    [Fact]
    public void InjectedEintrIsRetriedInsideTheWrapperAndTheDataStillArrives()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            TestUtil.Ok(NativeSocket.Send(a.Fd, "hello"u8), "send");
            var plan = new FaultPlan().Fail(FaultSite.Read, Errno.EINTR, probability: 1, budget: 3);
            using (FaultInjection.Arm(plan))
            {
                var buffer = new byte[16];
                Assert.Equal(5, Io.Read(b.Fd, buffer));
                Assert.Equal("hello"u8.ToArray(), buffer[..5]);
            }
            Assert.Equal(3, plan.Injected(FaultSite.Read));
        }
    }

    [Fact]
    public void InjectedErrnoReplacesTheCallAndLeavesTheKernelStateAlone()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            TestUtil.Ok(NativeSocket.Send(a.Fd, "x"u8), "send");
            var buffer = new byte[4];
            using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.Read, Errno.ECONNRESET, probability: 1, budget: 1)))
            {
                Assert.Equal(-Errno.ECONNRESET, Io.Read(b.Fd, buffer));
                // The budget is spent: the next call is real and finds the byte the failed one never took.
                Assert.Equal(1, Io.Read(b.Fd, buffer));
            }
        }
    }

    [Fact]
    public void ShortTransfersMoveAtLeastOneByteAndNeverMoreThanAsked()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            byte[] data = new byte[1000];
            new Random(7).NextBytes(data);
            var plan = new FaultPlan(seed: 3).Shorten(FaultSite.Send, probability: 1);
            var received = new List<byte>();
            using (FaultInjection.Arm(plan))
            {
                int sent = 0;
                while (sent < data.Length)
                {
                    long n = NativeSocket.Send(a.Fd, data.AsSpan(sent));
                    Assert.InRange(n, 1, data.Length - sent);
                    sent += (int)n;
                }
            }
            Assert.True(plan.Injected(FaultSite.Send) > 1, "no send was shortened");
            var buffer = new byte[2048];
            while (received.Count < data.Length)
            {
                long n = TestUtil.Ok(Io.Read(b.Fd, buffer), "read");
                received.AddRange(buffer.AsSpan(0, (int)n).ToArray());
            }
            Assert.Equal(data, received.ToArray());
        }
    }

    [Fact]
    public void DescriptorFilterSparesOtherDescriptors()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        (FileDescriptor c, FileDescriptor d) = TestUtil.SocketPair();
        using (a)
        using (b)
        using (c)
        using (d)
        {
            int target = b.Fd;
            using (FaultInjection.Arm(new FaultPlan { Descriptors = fd => fd == target }.Fail(FaultSite.Read, Errno.EPIPE, probability: 1)))
            {
                TestUtil.Ok(NativeSocket.Send(c.Fd, "y"u8), "send");
                Assert.Equal(-Errno.EPIPE, Io.Read(b.Fd, new byte[1]));
                Assert.Equal(1, Io.Read(d.Fd, new byte[1]));
            }
        }
    }

    [Fact]
    public void AcceptRetriesInjectedEintrButReportsInjectedEmfile()
    {
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        first.Connect(NativeSocket.GetLocalEndPoint(listener.Fd)!);
        second.Connect(NativeSocket.GetLocalEndPoint(listener.Fd)!);
        TestUtil.WaitReady(listener.Fd, EpollFlags.In);

        // Three interruptions in a row: the wrapper retries each and the fourth try accepts.
        var interrupted = new FaultPlan().Fail(FaultSite.Accept, Errno.EINTR, probability: 1, budget: 3);
        using (FaultInjection.Arm(interrupted))
        {
            int fd = NativeSocket.Accept(listener.Fd);
            Assert.True(fd >= 0, Errno.Describe(-fd));
            Io.Close(fd);
        }
        Assert.Equal(3, interrupted.Injected(FaultSite.Accept));

        // EMFILE is the caller's to handle: reported once, then the next call is real.
        var exhausted = new FaultPlan().Fail(FaultSite.Accept, Errno.EMFILE, probability: 1, budget: 1);
        using (FaultInjection.Arm(exhausted))
        {
            Assert.Equal(-Errno.EMFILE, NativeSocket.Accept(listener.Fd));
            int fd = NativeSocket.Accept(listener.Fd);
            Assert.True(fd >= 0, Errno.Describe(-fd));
            Io.Close(fd);
        }
        Assert.Equal(1, exhausted.Injected(FaultSite.Accept));
    }

    [Fact]
    public void NoWaitReadsAndCachedOpensHaveTheirOwnSites()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, new byte[64]);
            var plan = new FaultPlan()
                .Fail(FaultSite.FileOpenCached, Errno.EAGAIN, probability: 1)
                .Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1);
            using (FaultInjection.Arm(plan))
            {
                Assert.Equal(-Errno.EAGAIN, NativeFile.Open(path, FileOpenFlags.ReadOnly, default, cachedOnly: true, out _));
                TestUtil.Ok(NativeFile.Open(path, FileOpenFlags.ReadOnly, default, cachedOnly: false, out FileDescriptor? file), "open");
                using (file)
                {
                    Assert.Equal(-Errno.EAGAIN, NativeFile.Read(file!.Fd, new byte[64], 0, noWait: true));
                    Assert.Equal(64, NativeFile.Read(file.Fd, new byte[64], 0, noWait: false));
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void OnlyOnePlanIsArmedAtATimeAndDisarmingRestoresRealCalls()
    {
        var plan = new FaultPlan().Fail(FaultSite.EpollWait, Errno.EINTR, probability: 1);
        IDisposable scope = FaultInjection.Arm(plan);
        Assert.Throws<InvalidOperationException>(() => FaultInjection.Arm(new FaultPlan()));
        scope.Dispose();
        Assert.Null(FaultInjection.Plan);
        TestUtil.Ok(Epoll.Create(out FileDescriptor? epoll), "epoll_create1");
        using (epoll)
        {
            Assert.Equal(0, Epoll.Wait(epoll!.Fd, new EpollEvent[1], 0));
        }
        Assert.Equal(0, plan.Injected(FaultSite.EpollWait));
    }
}
