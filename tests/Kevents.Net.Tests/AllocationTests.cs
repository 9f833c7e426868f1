using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class AllocationTests : NetTest
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EchoAllocatesNothingPerMessageOnTheLoopThread(bool pipes)
    {
        // Issue 3's "0 bytes per echoed message in steady state", measured where the work happens: bytes allocated
        // by the loop thread while it echoes thousands of messages after a warm-up.
        SocketServer server = await OnLoop(() => pipes
            ? Loop.ListenTcp(TestUtil.AnyLoopback(), PipeEcho.RunAsync)
            : Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho()));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        client.NoDelay = true;
        byte[] message = new byte[64];
        byte[] reply = new byte[64];

        async Task Echo(int count)
        {
            for (int i = 0; i < count; i++)
            {
                await client.SendAsync(message, SocketFlags.None);
                int got = 0;
                while (got < reply.Length)
                {
                    got += await client.ReceiveAsync(reply.AsMemory(got), SocketFlags.None);
                }
            }
        }

        await Echo(2000);
        long before = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        const int Messages = 5000;
        await Echo(Messages);
        long after = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        // The two OnLoop probes themselves allocate a little (a closure and a task each); nothing scales with messages.
        Assert.True(after - before < 2048, $"the loop allocated {after - before} bytes for {Messages} echoed messages");
        await OnLoop(server.Dispose);
    }
}
