using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class ReadmeExampleTests : GatedTest
{
    [Fact]
    public async Task ReadmePipeEchoServesAsShown()
    {
        SocketServer? server = null;
        EventLoop? running = null;
        var ready = new TaskCompletionSource();
        var loopThread = new Thread(() =>
        {
            // The README's pipe echo, verbatim except for port 0 and the lines that let the test see and stop it.
            using var loop = new EventLoop();
            server = loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), async connection =>
            {
                while (true)
                {
                    var result = await connection.Input.ReadAsync();
                    foreach (var segment in result.Buffer) connection.Output.Write(segment.Span);
                    connection.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted || (await connection.Output.FlushAsync()).IsCompleted) break;
                }
            });
            loop.Register(Kevent.User(1), (in Kevent _) => { server.Dispose(); loop.Stop(); });
            running = loop;
            ready.SetResult();
            loop.Run();
        });
        loopThread.Start();
        await ready.Task;
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(server!.LocalEndPoint);
            await client.SendAsync("readme"u8.ToArray());
            byte[] buffer = new byte[6];
            int got = 0;
            while (got < 6)
            {
                got += await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None);
            }
            Assert.Equal("readme"u8.ToArray(), buffer);
        }
        Assert.True(running!.Trigger(1));
        Assert.True(loopThread.Join(TimeSpan.FromSeconds(10)));
    }
}
