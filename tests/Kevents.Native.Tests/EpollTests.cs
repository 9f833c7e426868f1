using Kevents.Tests;

namespace Kevents.Native.Tests;

public sealed class EpollTests : GatedTest
{
    private const ulong Token = 0xfeed_0000_0000_0001;
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(50);

    [Fact]
    public void EpollReportsReadableAfterWrite()
    {
        using FileDescriptor epoll = CreateEpoll();
        var (a, b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            TestUtil.Ok(Epoll.Control(epoll.Fd, Epoll.Add, a.Fd, EpollFlags.In, Token), "epoll_ctl");
            TestUtil.ExpectNoEvents(epoll.Fd, Quiet);

            TestUtil.Ok(Io.Write(b.Fd, "x"u8), "write");

            EpollFlags events = TestUtil.ExpectEvent(epoll.Fd, Token, EpollFlags.In);
            Assert.Equal(EpollFlags.None, events & (EpollFlags.Err | EpollFlags.Hup));
        }
    }

    [Fact]
    public void EpollWaitTimesOutWithZeroEvents()
    {
        using FileDescriptor epoll = CreateEpoll();
        var (a, b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            TestUtil.Ok(Epoll.Control(epoll.Fd, Epoll.Add, a.Fd, EpollFlags.In, Token), "epoll_ctl");
            Span<EpollEvent> events = stackalloc EpollEvent[4];

            long start = MonotonicClock.Nanoseconds();
            int n = Epoll.Wait(epoll.Fd, events, 50);
            long elapsedMs = (MonotonicClock.Nanoseconds() - start) / 1_000_000;

            Assert.Equal(0, n);
            // The kernel may round the timeout up, never down; the upper side is left loose on purpose.
            Assert.True(elapsedMs >= 49, $"epoll_wait returned after {elapsedMs} ms, before its 50 ms timeout");
            Assert.Equal(0, Epoll.Wait(epoll.Fd, events, 0));
        }
    }

    [Fact]
    public void EpollEdgeTriggeredReportsOnceUntilDrained()
    {
        using FileDescriptor epoll = CreateEpoll();
        var (a, b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            TestUtil.Ok(Epoll.Control(epoll.Fd, Epoll.Add, a.Fd, EpollFlags.In | EpollFlags.EdgeTriggered, Token), "epoll_ctl");
            TestUtil.Ok(Io.Write(b.Fd, "abcd"u8), "write");

            TestUtil.ExpectEvent(epoll.Fd, Token, EpollFlags.In);
            // Data is still waiting, but the edge has been reported and no new data has arrived.
            TestUtil.ExpectNoEvents(epoll.Fd, Quiet);

            // A partial read does not re-arm the edge either.
            Span<byte> buffer = stackalloc byte[2];
            Assert.Equal(2, Io.Read(a.Fd, buffer));
            TestUtil.ExpectNoEvents(epoll.Fd, Quiet);

            Assert.Equal(2, Io.Read(a.Fd, buffer));
            Assert.Equal(-Errno.EAGAIN, Io.Read(a.Fd, buffer));

            // Drained to EAGAIN: the next arrival is a new edge.
            TestUtil.Ok(Io.Write(b.Fd, "e"u8), "write");
            TestUtil.ExpectEvent(epoll.Fd, Token, EpollFlags.In);
        }
    }

    [Fact]
    public void EventFdSignalWakesEpollAndDrainReturnsCount()
    {
        using FileDescriptor epoll = CreateEpoll();
        TestUtil.Ok(EventFd.Create(out FileDescriptor? created), "eventfd");
        using FileDescriptor eventFd = created!;
        TestUtil.Ok(Epoll.Control(epoll.Fd, Epoll.Add, eventFd.Fd, EpollFlags.In, Token), "epoll_ctl");
        TestUtil.ExpectNoEvents(epoll.Fd, TimeSpan.Zero);

        // Signal from another thread, as a waker would, while this thread is blocked in epoll_wait.
        // Results are checked after Join: an assertion failing on that thread would take the process down.
        int first = int.MinValue, second = int.MinValue;
        var waker = new Thread(() =>
        {
            Thread.Sleep(20);
            first = EventFd.Signal(eventFd.Fd);
            second = EventFd.Signal(eventFd.Fd, 2);
        });
        waker.Start();
        TestUtil.ExpectEvent(epoll.Fd, Token, EpollFlags.In);
        waker.Join();
        Assert.Equal(0, first);
        Assert.Equal(0, second);

        Assert.Equal(3, EventFd.Drain(eventFd.Fd));
        Assert.Equal(-Errno.EAGAIN, EventFd.Drain(eventFd.Fd));
        TestUtil.ExpectNoEvents(epoll.Fd, TimeSpan.Zero);
    }

    private static FileDescriptor CreateEpoll()
    {
        TestUtil.Ok(Epoll.Create(out FileDescriptor? epoll), "epoll_create1");
        return epoll!;
    }
}
