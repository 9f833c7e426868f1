using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Sends through the ring (io_uring backend, ring sends on): one send in flight per connection whose bytes the kernel
/// owns until its completion. The leak gate proves every queued-output array went back, also when the connection
/// ends while the kernel still holds one.
/// </summary>
public class RingSendTests : NetTest
{
    private static readonly ServerOptions NoTimeouts = new()
    {
        Connection = new ConnectionOptions { IdleTimeout = Timeout.InfiniteTimeSpan, MinResponseDataRate = null },
    };

    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;

    private static byte Pattern(long i) => (byte)(i * 7 + (i >> 11));

    private static byte[] Patterned(long from, int count)
    {
        byte[] bytes = new byte[count];
        for (int i = 0; i < count; i++)
        {
            bytes[i] = Pattern(from + i);
        }
        return bytes;
    }

    [IoUringFact]
    public async Task TheLoopSendsThroughTheRing()
    {
        Assert.True(await OnLoop(() => Loop.SendsInRing), "ring sends were asked for on an io_uring loop");
    }

    [IoUringFact]
    public async Task SeveralMegabytesWrittenInPiecesArriveIntactAndInOrder()
    {
        const int Total = 6 * 1024 * 1024;
        var handler = new Callbacks
        {
            Connected = c =>
            {
                // Large and small pieces in one turn: the first send takes the queue, the rest queue behind it.
                long at = 0;
                foreach (int size in new[] { 3 * 1024 * 1024, 1, 100, 1024 * 1024 - 101, 2 * 1024 * 1024 })
                {
                    Assert.True(c.Write(Patterned(at, size)));
                    at += size;
                }
                Assert.Equal(Total, at);
                c.Close();
            },
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        (byte[] data, bool reset) = await ReceiveToEndAsync(client);
        Assert.False(reset);
        Assert.Equal(Total, data.Length);
        for (int i = 0; i < data.Length; i++)
        {
            if (data[i] != Pattern(i))
            {
                Assert.Fail($"byte {i} is {data[i]}, expected {Pattern(i)}");
            }
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0 && Loop.SendsInFlight == 0), "the connection closed and its sends completed");
        Assert.Null(handler.Error);
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task WriteThenImmediateCloseDeliversTheBytesThenTheEnd()
    {
        var handler = new Callbacks
        {
            Data = (c, data) =>
            {
                c.Write(data);
                c.Write("!"u8);
                c.Close();
            },
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("hello"u8.ToArray());
        (byte[] data, bool reset) = await ReceiveToEndAsync(client);
        Assert.False(reset);
        Assert.Equal("hello!", System.Text.Encoding.ASCII.GetString(data));
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0 && Loop.SendsInFlight == 0), "the connection closed");
        Assert.Null(handler.Error);
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task APeerResetDuringASendFailsTheConnectionWithAReset()
    {
        StreamConnection? connection = null;
        var handler = new Callbacks { Connected = c => { connection = c; c.Write(new byte[16 * 1024 * 1024]); } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            // The client reads nothing: the kernel holds the send until the socket has room, which never comes.
            await WaitUntilAsync(() => OnLoop(() => connection is { SendInFlight: true, QueuedOutput: > 0 } && Loop.SendsInFlight == 1), "a send waited in the kernel");
            client.LingerState = new LingerOption(true, 0);
        }
        await WaitUntilAsync(() => OnLoop(() => handler.Closed), "the connection closed");
        Assert.IsType<ConnectionResetException>(await OnLoop(() => handler.Error));
        await WaitUntilAsync(() => OnLoop(() => Loop.SendsInFlight == 0), "the send completed");
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the server let go of the connection");
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task AbortDuringASendCancelsItAndGivesTheBufferBack()
    {
        StreamConnection? connection = null;
        var handler = new Callbacks { Connected = c => { connection = c; c.Write(new byte[16 * 1024 * 1024]); } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => connection is { SendInFlight: true } && Loop.SendsInFlight == 1), "a send waited in the kernel");
        await OnLoop(() => connection!.Abort());
        await WaitUntilAsync(() => OnLoop(() => handler.Closed), "the connection closed");
        // The array stays with the kernel until the cancelled send completes; then the leak gate finds it back in the pool.
        await WaitUntilAsync(() => OnLoop(() => Loop.SendsInFlight == 0), "the cancelled send completed");
        (_, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset, "an aborted connection resets");
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task TheWriterPausesAtTheCapAndResumesOnceThePeerReads()
    {
        const int Total = 8 * 1024 * 1024;
        bool pausedAfterWrite = false;
        int drained = 0;
        StreamConnection? connection = null;
        var handler = new Callbacks
        {
            Connected = c =>
            {
                connection = c;
                c.Write(Patterned(0, Total));
                pausedAfterWrite = c.IsWriterPaused;
            },
            Drained = c => drained++,
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => connection is not null), "the connection started");
        Assert.True(await OnLoop(() => pausedAfterWrite), "8 MiB queued is far over the 64 KiB cap");
        Assert.True(await OnLoop(() => connection!.IsWriterPaused && drained == 0), "nothing drains while the peer reads nothing");
        byte[] data = await ReceiveExactlyAsync(client, Total);
        Assert.Equal(Patterned(0, Total), data);
        await WaitUntilAsync(() => OnLoop(() => drained == 1 && !connection!.IsWriterPaused && connection.QueuedOutput == 0), "the writer resumed");
        await OnLoop(() => connection!.Close());
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0 && Loop.SendsInFlight == 0), "the connection closed");
        await OnLoop(server.Dispose);
    }

    [IoUringFact]
    public async Task ManyConnectionsEchoingInOneTurnGetEveryByteInOrder()
    {
        var echo = new StreamEcho();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), echo, NoTimeouts));
        var clients = new List<Socket>();
        for (int i = 0; i < 40; i++)
        {
            clients.Add(await ConnectClientAsync(server.LocalEndPoint));
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == clients.Count), "every client was accepted");
        for (int round = 0; round < 20; round++)
        {
            // Every client sends before any reads, so one turn usually holds many connections' writes.
            for (int i = 0; i < clients.Count; i++)
            {
                await clients[i].SendAsync(Patterned(round * 1000 + i, 300));
            }
            for (int i = 0; i < clients.Count; i++)
            {
                Assert.Equal(Patterned(round * 1000 + i, 300), await ReceiveExactlyAsync(clients[i], 300));
            }
        }
        foreach (Socket client in clients)
        {
            client.Dispose();
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0 && Loop.SendsInFlight == 0), "every connection closed");
        await CheckGroupsAsync();
        await OnLoop(server.Dispose);
    }

    /// <summary>Overridden where sends are submitted in groups mid-turn: there it must have happened.</summary>
    protected virtual Task CheckGroupsAsync() => Task.CompletedTask;

    private sealed class Callbacks : IStreamHandler
    {
        public Action<StreamConnection>? Connected;
        public SpanAction? Data;
        public Action<StreamConnection>? Drained;
        public bool Closed;
        public Exception? Error;

        public delegate void SpanAction(StreamConnection connection, ReadOnlySpan<byte> data);

        public void OnConnected(StreamConnection connection) => Connected?.Invoke(connection);

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => Data?.Invoke(connection, data);

        public void OnDrained(StreamConnection connection) => Drained?.Invoke(connection);

        public void OnClosed(StreamConnection connection, Exception? error)
        {
            Closed = true;
            Error = error;
        }
    }
}

/// <summary>
/// The same with every connection's send submitted as soon as it asks (groups of one, the extreme of
/// <see cref="EventLoopOptions.IoUringSendBatch"/>): a flush inside a handler must keep order and ownership as the
/// turn-end flush does.
/// </summary>
public sealed class RingSendInGroupsTests : RingSendTests
{
    protected override int? RingSendBatch => 1;

    protected override async Task CheckGroupsAsync() =>
        Assert.True(await OnLoop(() => Loop.MidTurnSendSubmits > 0), "sends were submitted mid-turn");
}

// The behaviour suites that exercise the stream write path, once more with ring sends on (they are off by default,
// see README "Poller backends"): output, close and abort, resets, the minimum data rate and direct output must behave
// exactly as with send(2).

public sealed class EchoWithRingSendsTests : EchoTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}

public sealed class LifecycleWithRingSendsTests : LifecycleTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}

public sealed class PeerResetWithRingSendsTests : PeerResetTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}

public sealed class DataRateWithRingSendsTests : DataRateTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}

public sealed class DirectSendWithRingSendsTests : DirectSendTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}

public sealed class TimeoutEdgeWithRingSendsTests : TimeoutEdgeTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;

    protected override bool? RingSends => true;
}
