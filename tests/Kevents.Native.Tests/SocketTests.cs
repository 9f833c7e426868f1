using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Tests;

namespace Kevents.Native.Tests;

public sealed unsafe class SocketTests : GatedTest
{
    [Fact]
    public void ConnectToClosedPortReportsConnectionRefused()
    {
        // Bind to find a port nobody listens on, then release it. Another process could grab it in between,
        // but on loopback that is rare enough not to matter.
        IPEndPoint closed;
        TestUtil.Ok(NativeSocket.Create(AddressFamily.InterNetwork, SocketType.Stream, out FileDescriptor? probe), "socket");
        using (probe)
        {
            TestUtil.Ok(NativeSocket.Bind(probe!.Fd, TestUtil.AnyLoopback()), "bind");
            closed = Assert.IsType<IPEndPoint>(NativeSocket.GetLocalEndPoint(probe.Fd));
            Assert.NotEqual(0, closed.Port);
        }

        TestUtil.Ok(NativeSocket.Create(AddressFamily.InterNetwork, SocketType.Stream, out FileDescriptor? client), "socket");
        using (client)
        {
            int rc = NativeSocket.Connect(client!.Fd, closed);
            if (rc == -Errno.EINPROGRESS)
            {
                EpollFlags ready = TestUtil.WaitReady(client.Fd, EpollFlags.Out);
                Assert.True((ready & EpollFlags.Err) != 0, $"expected EPOLLERR, got {ready}");
                Assert.Equal(Errno.ECONNREFUSED, NativeSocket.GetError(client.Fd));
                // Reading SO_ERROR clears it.
                Assert.Equal(0, NativeSocket.GetError(client.Fd));
            }
            else
            {
                Assert.True(rc == -Errno.ECONNREFUSED, $"connect returned {Errno.Describe(rc)}");
            }
        }
    }

    [Fact]
    public void UnacknowledgedBytesCountWhatThePeerHasNotTakenAndErrorsAreValues()
    {
        TestUtil.Ok(NativeSocket.CreatePair(SocketType.Stream, out FileDescriptor? a, out FileDescriptor? b), "socketpair");
        using (a)
        using (b)
        {
            Assert.Equal(0, NativeSocket.GetUnacknowledgedBytes(a!.Fd));
            Assert.Equal(1000, NativeSocket.Send(a.Fd, new byte[1000]));
            // A Unix socket counts the kernel's buffer memory, so at least what was sent.
            Assert.True(NativeSocket.GetUnacknowledgedBytes(a.Fd) >= 1000);
            byte[] sink = new byte[1000];
            Assert.Equal(1000, NativeSocket.Receive(b!.Fd, sink));
            Assert.Equal(0, NativeSocket.GetUnacknowledgedBytes(a.Fd));
        }
        Assert.Equal(-Errno.EBADF, NativeSocket.GetUnacknowledgedBytes(-1));
    }

    [Fact]
    public void BindToPortInUseReturnsEaddrinuse()
    {
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        var taken = Assert.IsType<IPEndPoint>(NativeSocket.GetLocalEndPoint(listener.Fd));

        TestUtil.Ok(NativeSocket.Create(AddressFamily.InterNetwork, SocketType.Stream, out FileDescriptor? second), "socket");
        using (second)
        {
            Assert.Equal(-Errno.EADDRINUSE, NativeSocket.Bind(second!.Fd, taken));
        }
    }

    [Fact]
    public void TcpListenAcceptConnectRoundTripOnIPv4() => RoundTrip(TestUtil.AnyLoopback());

    [IPv6LoopbackFact]
    public void TcpListenAcceptConnectRoundTripOnIPv6() => RoundTrip(TestUtil.AnyLoopbackV6());

    [Fact]
    public void UnixSocketRoundTrip()
    {
        using TempUnixPath path = TestUtil.UniqueUnixPath();
        using FileDescriptor listener = TestUtil.Listen(path.EndPoint);
        var bound = Assert.IsType<UnixDomainSocketEndPoint>(NativeSocket.GetLocalEndPoint(listener.Fd));
        Assert.Equal(path.Path, bound.ToString());

        var (client, server) = TestUtil.ConnectedPair(listener);
        using (client)
        using (server)
        {
            Exchange(client, server);
        }
    }

    [Fact]
    public void SendVectorNeverRaisesSigpipe()
    {
        // The .NET runtime already ignores SIGPIPE, so this test cannot tell MSG_NOSIGNAL from luck; what it
        // does pin down is that writing to a closed peer is an ordinary -errno result and nothing else.
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        var (client, server) = TestUtil.ConnectedPair(listener);
        using (client)
        {
            server.Dispose();
            TestUtil.WaitReady(client.Fd, EpollFlags.RdHup);

            byte[] payload = new byte[1024];
            long rc = 0;
            // The first send after the peer's close usually succeeds and draws a reset; keep sending until the
            // reset has arrived and the error shows. A handful of tries is plenty on loopback.
            for (int i = 0; i < 100 && rc >= 0; i++)
            {
                // Safety: payload stays pinned for the call.
                fixed (byte* p = payload)
                {
                    IoSegment segment = new(p, payload.Length);
                    rc = NativeSocket.SendVector(client.Fd, &segment, 1);
                }
                if (rc >= 0)
                {
                    Thread.Sleep(5);
                }
            }
            Assert.True(rc == -Errno.EPIPE || rc == -Errno.ECONNRESET, $"send to a closed peer returned {(rc < 0 ? Errno.Describe((int)rc) : rc)}");

            // Once the write side is known to be broken, plain Send reports EPIPE the same way.
            Assert.Equal(-Errno.EPIPE, NativeSocket.Send(client.Fd, payload));
        }
    }

    [Fact]
    public void SetLingerZeroMakesCloseSendReset()
    {
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        var (client, server) = TestUtil.ConnectedPair(listener);
        using (client)
        {
            TestUtil.Ok(NativeSocket.SetLinger(server.Fd, on: true, seconds: 0), "setsockopt SO_LINGER");
            server.Dispose();

            EpollFlags ready = TestUtil.WaitReady(client.Fd, EpollFlags.In);
            Assert.True((ready & (EpollFlags.Err | EpollFlags.Hup)) != 0, $"expected a reset, got {ready}");
            Span<byte> buffer = stackalloc byte[16];
            Assert.Equal(-Errno.ECONNRESET, NativeSocket.Receive(client.Fd, buffer));
        }
    }

    private static void RoundTrip(IPEndPoint any)
    {
        using FileDescriptor listener = TestUtil.Listen(any);
        var bound = Assert.IsType<IPEndPoint>(NativeSocket.GetLocalEndPoint(listener.Fd));
        Assert.Equal(any.Address, bound.Address);
        Assert.NotEqual(0, bound.Port);

        var (client, server) = TestUtil.ConnectedPair(listener);
        using (client)
        using (server)
        {
            Assert.Equal(NativeSocket.GetLocalEndPoint(client.Fd), NativeSocket.GetRemoteEndPoint(server.Fd));
            Assert.Equal(bound, NativeSocket.GetRemoteEndPoint(client.Fd));
            Assert.Equal(0, NativeSocket.SetNoDelay(client.Fd, true));
            Assert.Equal(0, NativeSocket.GetOption(client.Fd, (int)SocketOptionLevel.Tcp, (int)SocketOptionName.NoDelay, out int noDelay));
            Assert.Equal(1, noDelay);
            Exchange(client, server);
        }
    }

    // Sends a request one way and a reply the other, waiting for readiness as a loop would.
    private static void Exchange(FileDescriptor client, FileDescriptor server)
    {
        Span<byte> buffer = stackalloc byte[64];

        Assert.Equal(4, NativeSocket.Send(client.Fd, "ping"u8));
        TestUtil.WaitReady(server.Fd, EpollFlags.In);
        long n = TestUtil.Ok(NativeSocket.Receive(server.Fd, buffer), "recv");
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer[..(int)n]));

        Assert.Equal(4, NativeSocket.Send(server.Fd, "pong"u8));
        TestUtil.WaitReady(client.Fd, EpollFlags.In);
        n = TestUtil.Ok(NativeSocket.Receive(client.Fd, buffer), "recv");
        Assert.Equal("pong", Encoding.ASCII.GetString(buffer[..(int)n]));

        // A FIN from the client is end of stream for the server, not an error.
        Assert.Equal(0, NativeSocket.Shutdown(client.Fd, SocketShutdown.Send));
        TestUtil.WaitReady(server.Fd, EpollFlags.In);
        Assert.Equal(0, NativeSocket.Receive(server.Fd, buffer));
    }
}
