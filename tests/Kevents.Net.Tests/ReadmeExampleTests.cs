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

    [Fact]
    public async Task ReadmeGroupEchoServesOnEveryLoopAsShown()
    {
        // The README's EventLoopGroup example, verbatim except for port 0, two loops without pinning (the test must
        // not depend on the CPU count), the gate's logger, and the test stopping it instead of Ctrl+C.
        SocketServerGroup? shown = null;
        var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory });
        var runner = new Thread(() =>
        {
            using (group)
            using (var server = group.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), loop => new ReadmeEcho(),
                distribution: LoopDistribution.ReusePort))
            {
                shown = server;
                group.Start();
                group.Completion.Wait();
            }
        });
        runner.Start();
        await WaitForAsync(() => shown is not null && group.IsRunning);
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 32; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(shown!.LocalEndPoint);
                await client.SendAsync("readme"u8.ToArray());
                byte[] buffer = new byte[6];
                int got = 0;
                while (got < 6)
                {
                    got += await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None);
                }
                Assert.Equal("readme"u8.ToArray(), buffer);
            }
            // 32 connections hashed over 2 listeners all land on one with chance 2 * 2^-32.
            Assert.All(shown!.AcceptedCounts(), c => Assert.True(c > 0));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        group.Stop();
        Assert.True(runner.Join(TimeSpan.FromSeconds(10)));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }

    private sealed class ReadmeEcho : IStreamHandler
    {
        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
    }
}
