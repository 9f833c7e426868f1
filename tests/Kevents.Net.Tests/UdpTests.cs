using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>UDP on the loop over real loopback sockets: batching, truncation, errors as events, bounded queues.</summary>
public sealed class UdpTests : GatedTest
{
    private readonly List<IDisposable> _owned = new();

    public override void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
        base.Dispose();
    }

    [Fact]
    public void UdpEchoRoundTripAccountsForEveryDatagram()
    {
        const int Total = 1000;
        const int Burst = 50;
        EventLoop loop = NewLoop();
        UdpSocket server = Own(loop.BindUdp(TestUtil.AnyLoopback(), new EchoHandler()));
        var client = new RecordingHandler();
        UdpSocket clientSocket = Own(loop.ConnectUdp((IPEndPoint)server.LocalEndPoint!, client));

        var seen = new bool[Total];
        int sent = 0;
        int received = 0;
        void SendBurst()
        {
            Span<byte> message = stackalloc byte[64];
            for (int i = 0; i < Burst && sent < Total; i++, sent++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(message, sent);
                message[4..].Fill((byte)sent);
                Assert.True(clientSocket.Send(message));
            }
        }
        client.OnData = (data, remote, truncated) =>
        {
            Assert.False(truncated);
            Assert.Equal(64, data.Length);
            int index = BinaryPrimitives.ReadInt32LittleEndian(data);
            Assert.False(seen[index], $"datagram {index} came back twice");
            Assert.True(data[4..].IndexOfAnyExcept((byte)index) < 0, $"datagram {index} came back altered");
            seen[index] = true;
            received++;
            // Send the next burst only when this one is all back: loopback then never overruns a receive buffer.
            if (received == sent)
            {
                if (sent == Total)
                {
                    loop.Stop();
                }
                else
                {
                    SendBurst();
                }
            }
        };

        SendBurst();
        RunWithLimit(loop);
        client.Check();

        Assert.Equal(Total, received);
        Assert.All(seen, Assert.True);
        Assert.Equal(Total, server.DatagramsReceived);
        Assert.Equal(Total, server.DatagramsSent);
        Assert.Equal(0, server.Errors);
        Assert.Empty(client.Errors);
    }

    [Fact]
    public void BatchReceiveDeliversSeveralDatagramsPerReadableEvent()
    {
        EventLoop loop = NewLoop();
        var handler = new RecordingHandler();
        UdpSocket server = Own(loop.BindUdp(TestUtil.AnyLoopback(), handler));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(TestUtil.AnyLoopback());
        // All ten are in the server's receive queue before the loop first looks at it.
        for (int i = 0; i < 10; i++)
        {
            client.SendTo(new[] { (byte)i }, server.LocalEndPoint!);
        }
        var senders = new List<EndPoint?>();
        handler.OnData = (data, remote, _) =>
        {
            senders.Add(remote);
            if (handler.Datagrams.Count == 10)
            {
                loop.Stop();
            }
        };

        RunWithLimit(loop);
        handler.Check();

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (byte)i), handler.Datagrams.Select(d => d[0]));
        Assert.Equal(10, server.DatagramsReceived);
        Assert.True(server.ReceiveBatches < 10, $"{server.ReceiveBatches} receive calls for 10 queued datagrams: recvmmsg did not batch");
        Assert.Equal(client.LocalEndPoint, senders[0]);
        // One sender, one EndPoint instance: no allocation per datagram for the sender.
        Assert.All(senders, s => Assert.Same(senders[0], s));
    }

    [Fact]
    public void ReceiveBatchReturnsSeveralDatagramsInOneCall()
    {
        (FileDescriptor receiver, EndPoint receiverAddress) = OpenBoundNative();
        (FileDescriptor sender, EndPoint senderAddress) = OpenBoundNative();
        for (int i = 0; i < 10; i++)
        {
            TestUtil.Ok(NativeSocket.SendTo(sender.Fd, new byte[] { (byte)i, 42 }, receiverAddress), "sendto");
        }
        var batch = new DatagramBatch(capacity: 32, bufferSize: 32 * 256);

        int n = NativeSocket.ReceiveBatch(receiver.Fd, batch, withAddresses: true);

        Assert.Equal(10, n);
        Assert.Equal(10, batch.Count);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(new byte[] { (byte)i, 42 }, batch.GetData(i).ToArray());
            Assert.False(batch.IsTruncated(i));
            Assert.Equal(senderAddress, batch.GetEndPoint(i));
        }
        Assert.Equal(-Errno.EAGAIN, NativeSocket.ReceiveBatch(receiver.Fd, batch, withAddresses: false));
    }

    [Fact]
    public void SendBatchSendsQueuedDatagramsInOrderAndReusesFreedRoom()
    {
        (FileDescriptor receiver, EndPoint receiverAddress) = OpenBoundNative();
        (FileDescriptor sender, _) = OpenBoundNative();
        var queue = new DatagramBatch(capacity: 4, bufferSize: 100);

        Assert.True(queue.TryAdd(new byte[40], receiverAddress));
        Assert.True(queue.TryAdd(new byte[] { 1, 2, 3 }, receiverAddress));
        Assert.True(queue.TryAdd(new byte[50], receiverAddress));
        Assert.False(queue.TryAdd(new byte[20], receiverAddress)); // 93 of 100 bytes taken
        queue.RemoveFirst(1); // the first 40 bytes were "sent": there is room again after compaction
        Assert.True(queue.TryAdd(Enumerable.Range(0, 20).Select(i => (byte)i).ToArray(), receiverAddress));
        Assert.Equal(3, queue.Count);
        Assert.Equal(73, queue.Bytes);

        Assert.Equal(3, NativeSocket.SendBatch(sender.Fd, queue));
        Assert.Equal(0, queue.Count);

        var received = new DatagramBatch(capacity: 8, bufferSize: 8 * 128);
        Assert.Equal(3, NativeSocket.ReceiveBatch(receiver.Fd, received, withAddresses: false));
        Assert.Equal(new byte[] { 1, 2, 3 }, received.GetData(0).ToArray());
        Assert.Equal(50, received.GetData(1).Length);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (byte)i), received.GetData(2).ToArray());
    }

    [Fact]
    public void OversizeDatagramIsFlaggedTruncated()
    {
        EventLoop loop = NewLoop();
        var handler = new RecordingHandler();
        UdpSocket server = Own(loop.BindUdp(TestUtil.AnyLoopback(), handler, new UdpOptions { MaxDatagramSize = 512 }));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        byte[] big = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        client.SendTo(big, server.LocalEndPoint!);
        client.SendTo(new byte[100], server.LocalEndPoint!);
        var truncatedFlags = new List<bool>();
        handler.OnData = (_, _, truncated) =>
        {
            truncatedFlags.Add(truncated);
            if (truncatedFlags.Count == 2)
            {
                loop.Stop();
            }
        };

        RunWithLimit(loop);

        Assert.Equal(new[] { true, false }, truncatedFlags);
        Assert.Equal(big.AsSpan(0, 512).ToArray(), handler.Datagrams[0]);
        Assert.Equal(100, handler.Datagrams[1].Length);
        Assert.Equal(1, server.DatagramsTruncated);
    }

    [Fact]
    public void ConnectedUdpToClosedPortReportsConnectionRefused()
    {
        IPEndPoint closed;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(TestUtil.AnyLoopback());
            closed = (IPEndPoint)probe.LocalEndPoint!;
        }
        EventLoop loop = NewLoop();
        var handler = new RecordingHandler();
        UdpSocket socket = Own(loop.ConnectUdp(closed, handler));
        handler.OnFailure = error =>
        {
            if (error == -Errno.ECONNREFUSED)
            {
                loop.Stop();
            }
        };
        // The kernel rate-limits ICMP errors, so keep knocking until the refusal comes back.
        const ulong Knock = 1;
        loop.Register(Kevent.Timer(Knock, TimeSpan.FromMilliseconds(100), periodic: true), (in Kevent _) => socket.Send("knock"u8));
        socket.Send("knock"u8);

        RunWithLimit(loop);
        loop.Unregister(Knock, KeventFilter.Timer);

        Assert.Contains(-Errno.ECONNREFUSED, handler.Errors);
        Assert.False(socket.IsClosed); // an error is an event, not the end of the socket
    }

    [Fact]
    public void SendNeverThrowsAndReportsRefusedDatagramsAsErrors()
    {
        EventLoop loop = NewLoop();
        var handler = new RecordingHandler();
        UdpSocket socket = Own(loop.BindUdp(TestUtil.AnyLoopback(), handler));
        var elsewhere = new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)socket.LocalEndPoint!).Port);

        Assert.False(socket.Send("no destination"u8));                       // unconnected, no address
        Assert.False(socket.Send(new byte[70_000], elsewhere));               // larger than any UDP datagram
        Assert.False(socket.Send("wrong family"u8, new IPEndPoint(IPAddress.IPv6Loopback, 9)));
        Assert.True(socket.Send(ReadOnlySpan<byte>.Empty, elsewhere));        // an empty datagram is legal

        Assert.Equal(3, handler.Errors.Count);
        Assert.Equal(-Errno.EMSGSIZE, handler.Errors[1]);
        Assert.All(handler.Errors, error => Assert.True(error < 0, $"errors arrive as -errno, as Kevent.Data carries them; got {error}"));
        Assert.Equal(3, socket.Errors);

        socket.Dispose();
        Assert.False(socket.Send("closed"u8, elsewhere));
        Assert.Equal(3, handler.Errors.Count);
    }

    [Fact]
    public void NoHandlerRunsAfterDispose()
    {
        EventLoop loop = NewLoop();
        var handler = new RecordingHandler();
        UdpSocket server = Own(loop.BindUdp(TestUtil.AnyLoopback(), handler));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        for (int i = 0; i < 5; i++)
        {
            client.SendTo(new[] { (byte)i }, server.LocalEndPoint!);
        }
        handler.OnData = (_, _, _) => server.Dispose(); // mid-batch: the other four must not be delivered

        RunFor(loop, TimeSpan.FromMilliseconds(200));

        Assert.Single(handler.Datagrams);
        Assert.True(server.IsClosed);
        Assert.Equal(-1, server.Descriptor);
    }

    [Fact]
    public void BindToPortInUseNamesTheEndpoint()
    {
        EventLoop loop = NewLoop();
        UdpSocket first = Own(loop.BindUdp(TestUtil.AnyLoopback(), new RecordingHandler()));
        var taken = (IPEndPoint)first.LocalEndPoint!;

        SocketException error = Assert.Throws<SocketException>(() => loop.BindUdp(taken, new RecordingHandler()));

        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        Assert.Contains(taken.ToString(), error.Message);
        Assert.Contains("address already in use", error.Message);
    }

    [Fact]
    public void SendQueuesWhileThePeerIsFullDropsBeyondTheCapAndFlushesInOrder()
    {
        // UDP over loopback never pushes back, so a Unix datagram pair stands in: its sender gets EAGAIN once the
        // receiver's queue is full (net.unix.max_dgram_qlen), which is exactly the path that fills the send queue.
        TestUtil.Ok(NativeSocket.CreatePair(SocketType.Dgram, out FileDescriptor? a, out FileDescriptor? b), "socketpair");
        EventLoop loop = NewLoop();
        UdpSocket sender = Own(loop.AdoptDatagramSocket(a!, new RecordingHandler(), new UdpOptions { MaxQueuedDatagrams = 16 }));
        var handler = new RecordingHandler();
        UdpSocket receiver = Own(loop.AdoptDatagramSocket(b!, handler));
        Assert.True(sender.IsConnected);

        const int Total = 2000;
        var accepted = new List<int>();
        Span<byte> message = stackalloc byte[100];
        for (int i = 0; i < Total; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(message, i);
            if (sender.Send(message))
            {
                accepted.Add(i);
            }
        }
        Assert.Equal(16, sender.QueuedDatagrams);
        Assert.Equal(Total - accepted.Count, sender.DatagramsDropped);
        Assert.True(sender.DatagramsDropped > 0);

        handler.OnData = (_, _, _) =>
        {
            if (handler.Datagrams.Count == accepted.Count)
            {
                loop.Stop();
            }
        };
        RunWithLimit(loop);
        handler.Check();

        // Every datagram Send accepted arrived, in the order it was sent; only the dropped ones are missing.
        Assert.Equal(accepted, handler.Datagrams.Select(d => BinaryPrimitives.ReadInt32LittleEndian(d)));
        Assert.Equal(0, sender.QueuedDatagrams);
        Assert.Equal(accepted.Count, sender.DatagramsSent);
    }

    [IPv6LoopbackFact]
    public void UdpEchoWorksOverIPv6()
    {
        EventLoop loop = NewLoop();
        UdpSocket server = Own(loop.BindUdp(TestUtil.AnyLoopbackV6(), new EchoHandler()));
        var client = new RecordingHandler { OnData = (_, _, _) => loop.Stop() };
        UdpSocket clientSocket = Own(loop.BindUdp(TestUtil.AnyLoopbackV6(), client));
        Assert.True(clientSocket.Send("over v6"u8, server.LocalEndPoint));

        RunWithLimit(loop);

        Assert.Equal("over v6"u8.ToArray(), client.Datagrams.Single());
        Assert.Equal(server.LocalEndPoint, client.Senders.Single());
    }

    [Fact]
    public void SendToAHostNameSaysToResolveItFirst()
    {
        EventLoop loop = NewLoop();
        UdpSocket socket = Own(loop.BindUdp(TestUtil.AnyLoopback(), new RecordingHandler()));
        var ex = Assert.Throws<ArgumentException>(() => socket.Send("x"u8, new DnsEndPoint("localhost", 9)));
        Assert.Equal("remote", ex.ParamName);
        Assert.Contains("DnsEndPoint", ex.Message);
        Assert.Contains("IPEndPoint", ex.Message);
        Assert.Equal(0, socket.DatagramsSent);
        Assert.Equal(0, socket.QueuedDatagrams);
    }

    private EventLoop NewLoop() => Own(new EventLoop());

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private (FileDescriptor, EndPoint) OpenBoundNative()
    {
        TestUtil.Ok(NativeSocket.Create(AddressFamily.InterNetwork, SocketType.Dgram, out FileDescriptor? socket), "socket");
        Own(socket!);
        TestUtil.Ok(NativeSocket.Bind(socket!.Fd, TestUtil.AnyLoopback()), "bind");
        return (socket, NativeSocket.GetLocalEndPoint(socket.Fd)!);
    }

    /// <summary>Runs the loop until a handler stops it; fails after <paramref name="limit"/> (default 10 s).</summary>
    private static void RunWithLimit(EventLoop loop, TimeSpan? limit = null)
    {
        TimeSpan within = limit ?? TimeSpan.FromSeconds(10);
        bool expired = false;
        Registration guard = loop.Register(Kevent.Timer(loop.AllocateIdent(), within), (in Kevent _) =>
        {
            expired = true;
            loop.Stop();
        });
        loop.Run();
        guard.Delete();
        Assert.False(expired, $"The loop did not stop within {within}.");
    }

    /// <summary>Runs the loop for <paramref name="duration"/>, for "nothing more happens" assertions.</summary>
    private static void RunFor(EventLoop loop, TimeSpan duration)
    {
        Registration stopper = loop.Register(Kevent.Timer(loop.AllocateIdent(), duration), (in Kevent _) => loop.Stop());
        loop.Run();
        stopper.Delete();
    }

    private delegate void DatagramCallback(ReadOnlySpan<byte> data, EndPoint? remote, bool truncated);

    private sealed class RecordingHandler : IDatagramHandler
    {
        public List<byte[]> Datagrams { get; } = new();
        public List<EndPoint?> Senders { get; } = new();
        public List<int> Errors { get; } = new();
        public DatagramCallback? OnData { get; set; }
        public Action<int>? OnFailure { get; set; }

        /// <summary>The first assertion that failed inside a callback: the socket catches handler exceptions, so keep it.</summary>
        public Exception? Failure { get; private set; }

        public void OnDatagram(UdpSocket socket, ReadOnlySpan<byte> data, EndPoint? remote, bool truncated)
        {
            Datagrams.Add(data.ToArray());
            Senders.Add(remote);
            try
            {
                OnData?.Invoke(data, remote, truncated);
            }
            catch (Exception ex)
            {
                Failure ??= ex;
                throw;
            }
        }

        public void Check()
        {
            if (Failure is not null)
            {
                throw new Xunit.Sdk.XunitException($"A handler callback failed: {Failure}");
            }
        }

        public void OnError(UdpSocket socket, int error)
        {
            Errors.Add(error);
            OnFailure?.Invoke(error);
        }
    }

    private sealed class EchoHandler : IDatagramHandler
    {
        public void OnDatagram(UdpSocket socket, ReadOnlySpan<byte> data, EndPoint? remote, bool truncated) => socket.Send(data, remote);
    }
}
