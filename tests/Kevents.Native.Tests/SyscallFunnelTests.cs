using System.Net.Sockets;
using Kevents.Tests;

namespace Kevents.Native.Tests;

/// <summary>
/// The one syscall funnel (Sys) every wrapper calls through: it allocates nothing on the per-message path, retries an
/// injected EINTR at every faulted site exactly like a real one, and keeps the calls whose EINTR means something else.
/// </summary>
public sealed class SyscallFunnelTests : GatedTest
{
    [Fact]
    public unsafe void ReadsAndWritesThroughTheFunnelAllocateNothing()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            byte[] payload = "ping"u8.ToArray();
            var buffer = new byte[64];
            fixed (byte* p = payload)
            fixed (byte* q = buffer)
            {
                var outgoing = new IoSegment(p, payload.Length);
                var incoming = new IoSegment(q, buffer.Length);
                RoundTrips(a.Fd, b.Fd, payload, buffer, &outgoing, &incoming, 100); // JIT and first-call work happen here
                long before = GC.GetAllocatedBytesForCurrentThread();
                RoundTrips(a.Fd, b.Fd, payload, buffer, &outgoing, &incoming, 1000);
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                Assert.True(allocated == 0, $"9000 calls through the funnel allocated {allocated} bytes");
            }
        }
    }

    private static unsafe void RoundTrips(int a, int b, byte[] payload, byte[] buffer, IoSegment* outgoing, IoSegment* incoming, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Expect(4, Io.Write(a, payload));
            Expect(4, Io.Read(b, buffer));
            Expect(4, NativeSocket.Send(a, payload));
            Expect(4, NativeSocket.Receive(b, buffer));
            Expect(4, NativeSocket.SendVector(a, outgoing, 1));
            Expect(4, Io.Readv(b, incoming, 1));
            Expect(4, Io.Writev(a, outgoing, 1));
            Expect(4, NativeSocket.Receive(b, buffer));
            Expect(-Errno.EAGAIN, Io.Read(b, buffer));
        }
    }

    // Assert.Equal allocates; this check does not, so only the calls under test are measured.
    private static void Expect(long expected, long actual)
    {
        if (actual != expected)
        {
            throw new Xunit.Sdk.XunitException($"expected {expected}, got {actual}");
        }
    }

    [Fact]
    public unsafe void InjectedEintrIsRetriedAtEveryStreamSite()
    {
        (FileDescriptor a, FileDescriptor b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            var plan = new FaultPlan()
                .Fail(FaultSite.Write, Errno.EINTR, probability: 1, budget: 2)
                .Fail(FaultSite.Send, Errno.EINTR, probability: 1, budget: 2)
                .Fail(FaultSite.Receive, Errno.EINTR, probability: 1, budget: 2)
                .Fail(FaultSite.Read, Errno.EINTR, probability: 1, budget: 2);
            var buffer = new byte[16];
            using (FaultInjection.Arm(plan))
            {
                Assert.Equal(3, Io.Write(a.Fd, "one"u8));
                Assert.Equal(3, NativeSocket.Send(a.Fd, "two"u8, more: false));
                Assert.Equal(6, NativeSocket.Receive(b.Fd, buffer));
                Assert.Equal(3, NativeSocket.Send(a.Fd, "six"u8));
                fixed (byte* q = buffer)
                {
                    var incoming = new IoSegment(q, buffer.Length);
                    Assert.Equal(3, Io.Readv(b.Fd, &incoming, 1));
                }
            }
            Assert.Equal(2, plan.Injected(FaultSite.Write));
            Assert.Equal(2, plan.Injected(FaultSite.Send));
            Assert.Equal(2, plan.Injected(FaultSite.Receive));
            Assert.Equal(2, plan.Injected(FaultSite.Read));
        }
    }

    [Fact]
    public void AcceptRetriesAnInjectedConnectionAbortLikeARealOne()
    {
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(NativeSocket.GetLocalEndPoint(listener.Fd)!);
        var plan = new FaultPlan().Fail(FaultSite.Accept, Errno.ECONNABORTED, probability: 1, budget: 3);
        using (FaultInjection.Arm(plan))
        {
            int fd = NativeSocket.Accept(listener.Fd);
            Assert.True(fd >= 0, Errno.Describe(-fd));
            Io.Close(fd);
        }
        Assert.Equal(3, plan.Injected(FaultSite.Accept));
    }

    [Fact]
    public void EpollWaitReportsAnInjectedEintrAsNothingReadyInsteadOfRetrying()
    {
        TestUtil.Ok(Epoll.Create(out FileDescriptor? epoll), "epoll_create1");
        using (epoll)
        {
            // An interrupted wait returns at once with no events: the loop recomputes its timeout on the next turn.
            var events = new EpollEvent[4];
            var plan = new FaultPlan().Fail(FaultSite.EpollWait, Errno.EINTR, probability: 1, budget: 2);
            using (FaultInjection.Arm(plan))
            {
                Assert.Equal(0, Epoll.Wait(epoll!.Fd, events, timeoutMs: -1));
                Assert.Equal(0, Epoll.WaitPrecise(epoll.Fd, events, timeoutNs: 1_000_000_000));
            }
            Assert.Equal(2, plan.Injected(FaultSite.EpollWait));
        }
    }
}
