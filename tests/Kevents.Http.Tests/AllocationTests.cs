using System.Net.Sockets;

namespace Kevents.Http.Tests;

/// <summary>Issue 11's "0 bytes per request on /plaintext in steady state", measured on the loop thread like the echo test.</summary>
public sealed class AllocationTests : HttpTest
{
    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    public async Task PlaintextAllocatesNothingPerRequestOnTheLoopThread(int pipelined)
    {
        StartServer();
        using Socket client = await ConnectAsync();
        client.NoDelay = true;
        byte[] one = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n"u8.ToArray();
        byte[] batch = new byte[one.Length * pipelined];
        for (int i = 0; i < pipelined; i++)
        {
            one.CopyTo(batch, i * one.Length);
        }
        byte[] reply = new byte[64 * 1024];
        int responseLength = -1;

        async Task Exchange(int batches)
        {
            for (int i = 0; i < batches; i++)
            {
                await client.SendAsync(batch, SocketFlags.None);
                int got = 0;
                // Each response has the same length (the Date field is fixed-width); learn it from the first.
                while (responseLength < 0 || got < responseLength * pipelined)
                {
                    got += await client.ReceiveAsync(reply.AsMemory(got), SocketFlags.None);
                    if (responseLength < 0)
                    {
                        int end = reply.AsSpan(0, got).IndexOf("Hello, World!"u8);
                        if (end >= 0)
                        {
                            responseLength = end + 13;
                        }
                    }
                }
            }
        }

        await Exchange(2000 / pipelined);
        long before = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        int batches = 5000 / pipelined;
        await Exchange(batches);
        long after = await OnLoop(() => GC.GetAllocatedBytesForCurrentThread());
        // The two OnLoop probes allocate a little (a closure and a task each); nothing scales with the requests.
        Assert.True(after - before < 2048, $"the loop allocated {after - before} bytes for {batches * pipelined} requests");
        Assert.Equal(2000 / pipelined * pipelined + batches * pipelined, await OnLoop(() => Server.SuccessResponses));
    }
}
