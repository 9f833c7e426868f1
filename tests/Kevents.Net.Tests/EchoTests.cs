using System.Net;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class EchoTests : NetTest
{
    public enum Api
    {
        Stream,
        Pipe,
    }

    private Task<SocketServer> Listen(Api api, EndPoint endPoint, ServerOptions? options = null) => OnLoop(() => endPoint switch
    {
        IPEndPoint ip => api == Api.Stream ? Loop.ListenTcp(ip, new StreamEcho(), options) : Loop.ListenTcp(ip, PipeEcho.RunAsync, options),
        _ => api == Api.Stream
            ? Loop.ListenUnix(((UnixDomainSocketEndPoint)endPoint).ToString(), new StreamEcho(), options)
            : Loop.ListenUnix(((UnixDomainSocketEndPoint)endPoint).ToString(), PipeEcho.RunAsync, options),
    });

    [Theory]
    [InlineData(Api.Stream)]
    [InlineData(Api.Pipe)]
    public async Task EchoRoundTripOverTcp(Api api)
    {
        SocketServer server = await Listen(api, TestUtil.AnyLoopback());
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            byte[] message = "hello, kevents"u8.ToArray();
            await client.SendAsync(message);
            Assert.Equal(message, await ReceiveExactlyAsync(client, message.Length));
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the server saw the close");
        await OnLoop(server.Dispose);
    }

    [IPv6LoopbackFact]
    public Task StreamEchoRoundTripOverIPv6() => EchoOverIPv6(Api.Stream);

    [IPv6LoopbackFact]
    public Task PipeEchoRoundTripOverIPv6() => EchoOverIPv6(Api.Pipe);

    private async Task EchoOverIPv6(Api api)
    {
        SocketServer server = await Listen(api, TestUtil.AnyLoopbackV6());
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync("v6"u8.ToArray());
            Assert.Equal("v6"u8.ToArray(), await ReceiveExactlyAsync(client, 2));
        }
        await OnLoop(server.Dispose);
    }

    [Theory]
    [InlineData(Api.Stream)]
    [InlineData(Api.Pipe)]
    public async Task EchoRoundTripOverUnixSocket(Api api)
    {
        using TempUnixPath path = TestUtil.UniqueUnixPath();
        SocketServer server = await Listen(api, path.EndPoint);
        using (Socket client = await ConnectClientAsync(path.EndPoint))
        {
            await client.SendAsync("unix"u8.ToArray());
            Assert.Equal("unix"u8.ToArray(), await ReceiveExactlyAsync(client, 4));
        }
        await OnLoop(server.Dispose);
        Assert.False(File.Exists(path.Path), "the listener's socket file should be removed when it stops");
    }

    [Theory]
    [InlineData(Api.Stream)]
    [InlineData(Api.Pipe)]
    public async Task ThousandConnectionsWithHundredRandomMessagesEachEchoByteExact(Api api)
    {
        SocketServer server = await Listen(api, TestUtil.AnyLoopback());
        const int Connections = 1000;
        const int Messages = 100;
        var clients = new Socket[Connections];
        for (int i = 0; i < Connections; i++)
        {
            clients[i] = await ConnectClientAsync(server.LocalEndPoint);
        }
        try
        {
            await Task.WhenAll(clients.Select(async (client, index) =>
            {
                var random = new Random(index);
                for (int m = 0; m < Messages; m++)
                {
                    byte[] message = new byte[random.Next(1, 512)];
                    random.NextBytes(message);
                    await client.SendAsync(message);
                    byte[] echoed = await ReceiveExactlyAsync(client, message.Length);
                    Assert.Equal(message, echoed);
                }
            })).WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(Connections, await OnLoop(() => server.ConnectionCount));
        }
        finally
        {
            foreach (Socket client in clients)
            {
                client.Dispose();
            }
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "every connection closed");
        await OnLoop(server.Dispose);
    }

    [Theory]
    [InlineData(Api.Stream)]
    [InlineData(Api.Pipe)]
    public async Task EightMebibytesEachWayArriveIntact(Api api)
    {
        SocketServer server = await Listen(api, TestUtil.AnyLoopback());
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        byte[] payload = new byte[8 * 1024 * 1024];
        new Random(42).NextBytes(payload);
        Task<byte[]> receiving = ReceiveExactlyAsync(client, payload.Length);
        await client.SendAsync(payload);
        byte[] echoed = await receiving;
        Assert.True(payload.AsSpan().SequenceEqual(echoed), "echoed bytes differ");
        client.Shutdown(SocketShutdown.Send);
        (byte[] rest, bool reset) = await ReceiveToEndAsync(client);
        Assert.Empty(rest);
        Assert.False(reset);
        await OnLoop(server.Dispose);
    }

    [Theory]
    [InlineData(Api.Stream)]
    [InlineData(Api.Pipe)]
    public async Task HalfCloseStillDeliversTheWholeReply(Api api)
    {
        // docs/reliability.md: the client shuts down its write side right after the request.
        SocketServer server = await Listen(api, TestUtil.AnyLoopback());
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        byte[] request = new byte[300_000];
        new Random(7).NextBytes(request);
        Task<(byte[] Data, bool Reset)> reply = ReceiveToEndAsync(client);
        await client.SendAsync(request);
        client.Shutdown(SocketShutdown.Send);
        (byte[] data, bool reset) = await reply;
        Assert.False(reset);
        Assert.True(request.AsSpan().SequenceEqual(data), $"got {data.Length} of {request.Length} bytes back");
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the server closed its side");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task StreamHandlerSeesEndOfStreamOnceAndOneClose()
    {
        var echo = new StreamEcho();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), echo));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync("x"u8.ToArray());
            await ReceiveExactlyAsync(client, 1);
            client.Shutdown(SocketShutdown.Send);
            await ReceiveToEndAsync(client);
        }
        await WaitUntilAsync(() => OnLoop(() => echo.Closed == 1), "the connection closed");
        await Task.Delay(50);
        Assert.Equal(1, await OnLoop(() => echo.EndOfStream));
        Assert.Equal(1, await OnLoop(() => echo.Closed));
        Assert.Null(echo.LastError);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task ClientResetLeavesServerServingOthers()
    {
        var echo = new StreamEcho();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), echo));
        using Socket good = await ConnectClientAsync(server.LocalEndPoint);
        for (int i = 0; i < 50; i++)
        {
            Socket bad = await ConnectClientAsync(server.LocalEndPoint);
            await bad.SendAsync(new byte[100]);
            bad.LingerState = new LingerOption(true, 0);
            bad.Close();
        }
        await good.SendAsync("still here"u8.ToArray());
        Assert.Equal("still here"u8.ToArray(), await ReceiveExactlyAsync(good, 10));
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the reset connections closed");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task LocalAndRemoteEndPointsAreReported()
    {
        EndPoint? local = null, remote = null;
        var handler = new CallbackHandler(onConnected: c =>
        {
            local = c.LocalEndPoint;
            remote = c.RemoteEndPoint;
        });
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => remote is not null), "the connection was accepted");
        Assert.Equal(server.LocalEndPoint, local);
        Assert.Equal(client.LocalEndPoint, remote);
        await OnLoop(server.Dispose);
    }
}

internal sealed class CallbackHandler(
    Action<StreamConnection>? onConnected = null,
    Action<StreamConnection, byte[]>? onData = null,
    Action<StreamConnection, Exception?>? onClosed = null,
    Action<StreamConnection>? onDrained = null) : IStreamHandler
{
    public void OnConnected(StreamConnection connection) => onConnected?.Invoke(connection);

    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => onData?.Invoke(connection, data.ToArray());

    public void OnClosed(StreamConnection connection, Exception? error) => onClosed?.Invoke(connection, error);

    public void OnDrained(StreamConnection connection) => onDrained?.Invoke(connection);
}
