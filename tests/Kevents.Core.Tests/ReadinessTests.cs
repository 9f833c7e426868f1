using System.Net.Sockets;
using Kevents.Native;

namespace Kevents.Tests;

public class ReadinessTests : LoopTest
{
    [Fact]
    public void ReadableSocketIsDeliveredWithUserData()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        Kevent? seen = null;
        loop.Register(Kevent.Read(b.Fd, userData: 77), (in Kevent ev) =>
        {
            seen = ev;
            loop.Stop();
        });
        WriteByte(a);
        RunWithLimit(loop);
        Assert.NotNull(seen);
        Assert.Equal((ulong)b.Fd, seen.Value.Ident);
        Assert.Equal(KeventFilter.Read, seen.Value.Filter);
        Assert.Equal(77UL, seen.Value.UserData);
        Assert.False(seen.Value.IsEof);
    }

    [Fact]
    public void LevelTriggeredReadKeepsFiringUntilDrained()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int deliveries = 0;
        loop.Register(Kevent.Read(b.Fd), (in Kevent ev) =>
        {
            // Do not read: level-triggered readiness must be reported again on the next turn.
            if (++deliveries == 3)
            {
                loop.Stop();
            }
        });
        WriteByte(a);
        RunWithLimit(loop);
        Assert.Equal(3, deliveries);
    }

    [Fact]
    public void EdgeTriggeredReadFiresOncePerArrival()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int deliveries = 0;
        loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Clear), (in Kevent ev) => deliveries++);
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, deliveries);

        // New data is a new edge.
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, deliveries);
    }

    [Fact]
    public void OneshotDeliversOnceThenUnregisters()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int deliveries = 0;
        loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Oneshot), (in Kevent ev) => deliveries++);
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, deliveries);
        Assert.False(loop.IsRegistered((ulong)b.Fd, KeventFilter.Read));
    }

    [Fact]
    public void DispatchDisablesAfterDeliveryUntilEnabled()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int deliveries = 0;
        loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Dispatch), (in Kevent ev) => deliveries++);
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, deliveries);
        Assert.True(loop.IsRegistered((ulong)b.Fd, KeventFilter.Read));

        loop.Enable((ulong)b.Fd, KeventFilter.Read);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, deliveries);
    }

    [Fact]
    public void DisabledRegistrationDeliversNothing()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int deliveries = 0;
        loop.Register(Kevent.Read(b.Fd), (in Kevent ev) => deliveries++);
        loop.Disable((ulong)b.Fd, KeventFilter.Read);
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, deliveries);
        loop.Enable((ulong)b.Fd, KeventFilter.Read);
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        Assert.True(deliveries > 0);
    }

    [Fact]
    public void NoHandlerRunsAfterUnregisterEvenWithEventPending()
    {
        EventLoop loop = NewLoop();
        var (a1, b1) = TestUtil.SocketPair();
        var (a2, b2) = TestUtil.SocketPair();
        Own(a1);
        Own(b1);
        Own(a2);
        Own(b2);
        int first = 0, second = 0;
        // Both descriptors become ready in the same batch; whichever handler runs first removes the other.
        loop.Register(Kevent.Read(b1.Fd, flags: KeventFlags.Oneshot), (in Kevent ev) =>
        {
            first++;
            loop.Unregister((ulong)b2.Fd, KeventFilter.Read);
        });
        loop.Register(Kevent.Read(b2.Fd, flags: KeventFlags.Oneshot), (in Kevent ev) =>
        {
            second++;
            loop.Unregister((ulong)b1.Fd, KeventFilter.Read);
        });
        WriteByte(a1);
        WriteByte(a2);
        RunFor(loop, TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, first + second);
    }

    [Fact]
    public void ReregisteringAfterUnregisterInSameBatchDoesNotReceiveStaleEvent()
    {
        EventLoop loop = NewLoop();
        var (a1, b1) = TestUtil.SocketPair();
        var (a2, b2) = TestUtil.SocketPair();
        Own(a1);
        Own(b1);
        Own(a2);
        Own(b2);
        int stale = 0, handled = 0;
        KeventHandler other = (in Kevent ev) => handled++;
        loop.Register(Kevent.Read(b1.Fd, flags: KeventFlags.Clear), (in Kevent ev) =>
        {
            // Replace b2's registration: an event collected for the old one must not reach the new handler.
            loop.Unregister((ulong)b2.Fd, KeventFilter.Read);
            loop.Register(Kevent.Read(b2.Fd, flags: KeventFlags.Clear), (in Kevent _) => stale++);
        });
        loop.Register(Kevent.Read(b2.Fd, flags: KeventFlags.Clear), other);
        WriteByte(a1);
        WriteByte(a2);
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        // Whatever order epoll reported them in, b2's event collected for the old registration never reaches
        // the new one: the new registration hears of the pending byte exactly once, as its own initial edge.
        Assert.Equal(1, stale);
        Assert.True(handled <= 1);
    }

    [Fact]
    public void PeerCloseDeliversEof()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(b);
        Kevent? seen = null;
        loop.Register(Kevent.Read(b.Fd), (in Kevent ev) =>
        {
            seen = ev;
            loop.Stop();
        });
        a.Dispose();
        RunWithLimit(loop);
        Assert.True(seen!.Value.IsEof);
    }

    [Fact]
    public void TcpPeerResetDeliversErrorWithErrno()
    {
        EventLoop loop = NewLoop();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(TestUtil.AnyLoopback());
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using Socket server = listener.Accept();
        server.Blocking = false;
        Kevent? seen = null;
        loop.Register(Kevent.Read((int)server.Handle), (in Kevent ev) =>
        {
            seen = ev;
            loop.Stop();
        });
        client.LingerState = new LingerOption(true, 0);
        client.Close();
        RunWithLimit(loop);
        loop.Unregister((ulong)server.Handle, KeventFilter.Read);
        Assert.True(seen!.Value.IsEof || seen.Value.IsError);
        if (seen.Value.IsError)
        {
            Assert.Equal(-Errno.ECONNRESET, seen.Value.Data);
        }
    }

    [Fact]
    public void WriteReadinessIsDeliveredForWritableSocket()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        KeventFilter? filter = null;
        loop.Register(Kevent.Write(a.Fd, flags: KeventFlags.Oneshot), (in Kevent ev) =>
        {
            filter = ev.Filter;
            loop.Stop();
        });
        RunWithLimit(loop);
        Assert.Equal(KeventFilter.Write, filter);
    }

    [Fact]
    public void ReadAndWriteFiltersOnOneFdAreIndependent()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int reads = 0, writes = 0;
        loop.Register(Kevent.Read(b.Fd), (in Kevent ev) =>
        {
            reads++;
            Io.Read(b.Fd, new byte[16]);
        });
        loop.Register(Kevent.Write(b.Fd, flags: KeventFlags.Oneshot), (in Kevent ev) => writes++);
        WriteByte(a);
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        Assert.Equal(1, reads);
        Assert.Equal(1, writes);
        Assert.True(loop.IsRegistered((ulong)b.Fd, KeventFilter.Read));
        Assert.False(loop.IsRegistered((ulong)b.Fd, KeventFilter.Write));
    }

    [Fact]
    public void ReportBytesFillsDataWithReadableCount()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        long data = -1;
        loop.Register(new Kevent((ulong)b.Fd, KeventFilter.Read, KeventFlags.None, (uint)ReadFilterFlags.ReportBytes), (in Kevent ev) =>
        {
            data = ev.Data;
            loop.Stop();
        });
        Assert.Equal(5, Io.Write(a.Fd, "hello"u8));
        RunWithLimit(loop);
        Assert.Equal(5, data);
    }

    [Fact]
    public void RegisteringClosedFdThrowsNamingFdAndErrno()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        int fd = b.Fd;
        a.Dispose();
        b.Dispose();
        var ex = Assert.Throws<ArgumentException>(() => loop.Register(Kevent.Read(fd), (in Kevent _) => { }));
        Assert.Contains($"fd {fd}", ex.Message);
        Assert.Contains("Bad file descriptor", ex.Message);
        Assert.False(loop.IsRegistered((ulong)fd, KeventFilter.Read));
    }

    [Fact]
    public void RegisteringRegularFileExplainsEpollCannotWatchIt()
    {
        EventLoop loop = NewLoop();
        string path = Path.GetTempFileName();
        try
        {
            using FileStream file = File.OpenRead(path);
            int fd = (int)file.SafeFileHandle.DangerousGetHandle();
            var ex = Assert.Throws<ArgumentException>(() => loop.Register(Kevent.Read(fd), (in Kevent _) => { }));
            Assert.Contains("EPERM", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RegisteringExistingIdentityModifiesIt()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int oldCalls = 0;
        ulong seenUserData = 0;
        loop.Register(Kevent.Read(b.Fd, userData: 1), (in Kevent _) => oldCalls++);
        loop.Register(Kevent.Read(b.Fd, userData: 2), (in Kevent ev) =>
        {
            seenUserData = ev.UserData;
            loop.Stop();
        });
        WriteByte(a);
        RunWithLimit(loop);
        Assert.Equal(0, oldCalls);
        Assert.Equal(2UL, seenUserData);
    }

    [Fact]
    public void PollReturnsKeventsOfHandlerlessRegistrations()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        loop.Register(Kevent.Read(b.Fd, userData: 5));
        Span<Kevent> events = new Kevent[4];
        Assert.Equal(0, loop.Poll(events, TimeSpan.Zero));
        WriteByte(a);
        int n = loop.Poll(events, TimeSpan.FromSeconds(5));
        Assert.Equal(1, n);
        Assert.Equal(KeventFilter.Read, events[0].Filter);
        Assert.Equal(5UL, events[0].UserData);
    }

    [Fact]
    public void PollKeepsKeventsThatDoNotFitForNextCall()
    {
        EventLoop loop = NewLoop();
        var pairs = Enumerable.Range(0, 3).Select(_ => TestUtil.SocketPair()).ToArray();
        foreach (var (a, b) in pairs)
        {
            Own(a);
            Own(b);
            loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Oneshot));
            WriteByte(a);
        }
        Span<Kevent> one = new Kevent[1];
        var seen = new HashSet<ulong>();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(1, loop.Poll(one, TimeSpan.FromSeconds(5)));
            seen.Add(one[0].Ident);
        }
        Assert.Equal(pairs.Select(p => (ulong)p.Item2.Fd).ToHashSet(), seen);
        Assert.Equal(0, loop.Poll(one, TimeSpan.Zero));
    }

    [Fact]
    public void SpuriousWakeupsAndOneByteReadsLoseNothingInEdgeMode()
    {
        // docs/reliability.md: edge-triggered consumer drains to EAGAIN one byte at a time; every byte arrives.
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        const int Total = 2000;
        int received = 0;
        byte[] one = new byte[1];
        loop.Register(Kevent.Read(b.Fd, flags: KeventFlags.Clear), (in Kevent ev) =>
        {
            while (true)
            {
                long n = Io.Read(b.Fd, one);
                if (n == -Errno.EAGAIN)
                {
                    break;
                }
                Assert.Equal(1, n);
                received++;
            }
            if (received == Total)
            {
                loop.Stop();
            }
        });
        var writer = new Thread(() =>
        {
            for (int i = 0; i < Total; i++)
            {
                while (Io.Write(a.Fd, [(byte)i]) != 1)
                {
                    Thread.Yield();
                }
                if (i % 100 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        });
        writer.Start();
        RunWithLimit(loop, TimeSpan.FromSeconds(20));
        writer.Join();
        Assert.Equal(Total, received);
    }
}
