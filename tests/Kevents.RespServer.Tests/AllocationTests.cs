using System.Net.Sockets;
using System.Text;

namespace Kevents.RespServer.Tests;

/// <summary>Issue 11's "0 bytes allocated per request on the GET path in steady state", measured on the loop thread.</summary>
public sealed class AllocationTests : RespServerTest
{
    public AllocationTests() => StartServer();

    [Fact]
    public async Task GetAllocatesNothingPerRequestOnTheLoopThread()
    {
        using Socket client = await ConnectAsync();
        string value = new('v', 100);
        await SendAsync(client, $"*3\r\n$3\r\nSET\r\n$8\r\nuser:100\r\n${value.Length}\r\n{value}\r\n");
        Assert.Equal("+OK\r\n", await ReceiveAsync(client, 5));
        byte[] get = Encoding.ASCII.GetBytes("*2\r\n$3\r\nGET\r\n$8\r\nuser:100\r\n");
        byte[] miss = Encoding.ASCII.GetBytes("*2\r\n$3\r\nGET\r\n$8\r\nuser:999\r\n");
        byte[] pipelined = Enumerable.Repeat(get, 16).SelectMany(b => b).ToArray();
        int hitLength = $"${value.Length}\r\n{value}\r\n".Length;
        byte[] reply = new byte[16 * hitLength];

        async Task Round(byte[] request, int expected)
        {
            await client.SendAsync(request, SocketFlags.None);
            int got = 0;
            while (got < expected)
            {
                got += await client.ReceiveAsync(reply.AsMemory(got, expected - got), SocketFlags.None);
            }
        }

        async Task Requests(int count)
        {
            for (int i = 0; i < count; i++)
            {
                await Round(get, hitLength);
                await Round(miss, 5);
                await Round(pipelined, 16 * hitLength);
            }
        }

        await Requests(1000);
        long before = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        const int Rounds = 2000;
        await Requests(Rounds);
        long after = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        // 18 GETs a round. The two OnLoop probes allocate a little themselves (a closure and a task each), and the
        // expiry timer re-arms a few times a second; nothing scales with requests.
        Assert.True(after - before < 4096, $"the loop allocated {after - before} bytes for {Rounds * 18} GETs");
        Assert.Equal(Rounds * 18 + 1000 * 18 + 1, await OnLoop(() => Server.CommandsProcessed));
    }
}
