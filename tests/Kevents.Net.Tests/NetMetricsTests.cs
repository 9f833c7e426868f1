using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class NetMetricsTests : NetTest
{
    [Fact]
    public async Task LoopPublishesConnectionsAndBytesUnderTheKeventsMeter()
    {
        using var capture = new MeterCapture(Loop.Name);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { MaxConnections = 2 }));
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                clients.Add(await ConnectClientAsync(server.LocalEndPoint));
            }
            await WaitUntilAsync(() => OnLoop(() => server.TotalRejected == 1 && server.ConnectionCount == 2), "two accepted, one refused");

            // Echo five 100-byte messages on each served connection (the refused one is closed by the server).
            var served = new List<Socket>();
            foreach (Socket client in clients)
            {
                if (await IsServedAsync(client))
                {
                    served.Add(client);
                }
            }
            Assert.Equal(2, served.Count);
            byte[] message = new byte[100];
            foreach (Socket client in served)
            {
                for (int m = 0; m < 5; m++)
                {
                    await client.SendAsync(message);
                    await ReceiveExactlyAsync(client, message.Length);
                }
            }

            capture.Collect();
            Assert.Equal(2, capture.Value("kevents.net.connections.open"));
            Assert.Equal(2, capture.Value("kevents.net.connections.accepted"));
            Assert.Equal(1, capture.Value("kevents.net.connections.rejected"));
            // The probe byte IsServedAsync sent per connection, echoed too.
            Assert.Equal(2 * (5 * 100 + 1), capture.Value("kevents.net.bytes.received"));
            Assert.Equal(2 * (5 * 100 + 1), capture.Value("kevents.net.bytes.sent"));
            Assert.Equal("By", capture.Instrument("kevents.net.bytes.sent").Unit);
            Assert.True(capture.Value("kevents.loop.kevents", "kevents.filter", "read") >= 10);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "clients gone");
        capture.Collect();
        Assert.Equal(0, capture.Value("kevents.net.connections.open"));
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task OutgoingConnectionsCountAsOpenOnTheirLoop()
    {
        using var capture = new MeterCapture(Loop.Name);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen();
        PipeConnection connection = await OnLoopAsync(() => Loop.ConnectAsync(listener.LocalEndPoint!));
        using Socket accepted = await listener.AcceptAsync();
        capture.Collect();
        Assert.Equal(1, capture.Value("kevents.net.connections.open"));
        Assert.Equal(0, capture.Value("kevents.net.connections.accepted"));

        await OnLoop(() => connection.Abort());
        await WaitUntilAsync(() => OnLoop(() => connection.IsClosed), "connection closed");
        capture.Collect();
        Assert.Equal(0, capture.Value("kevents.net.connections.open"));
    }

    // A served connection echoes a probe byte; a refused one reads end of stream or a reset.
    private static async Task<bool> IsServedAsync(Socket client)
    {
        try
        {
            await client.SendAsync(new byte[] { 1 });
            byte[] one = new byte[1];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return await client.ReceiveAsync(one, SocketFlags.None, timeout.Token) == 1;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
