using System.Net.Sockets;
using System.Text;

namespace Kevents.FileServer.Tests;

/// <summary>
/// Pipelined requests in one write while answers are late: files opened on a cache-miss thread (what a cold cache
/// after a fresh clone does) and bodies sent by sendfile (what a page-cache miss on the no-wait read, or a file
/// system without RWF_NOWAIT, does). Every request must be answered in order with no further read to wake them.
/// </summary>
public sealed class PipelineTests : FileServerTest
{
    private const string Pipeline = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        + "HEAD /one-k.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        + "GET /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task PipelineIsAnsweredInOrderWhateverTheCacheSays(bool cacheMiss, bool sendfileBodies)
    {
        StartServer(o => o.SmallFileLimit = sendfileBodies ? 0 : 16 * 1024);
        Server.ForceCacheMiss = cacheMiss;
        AssertAnsweredInOrder(Encoding.Latin1.GetString(await RawExchangeAsync(Pipeline)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CacheMissOpenThatEndsAfterTheWholePipelineIsBufferedStillAnswersIt(bool halfClose)
    {
        // The first open is held on its cache-miss thread until the client has sent everything (and maybe its FIN),
        // so the handler's continuation comes back to the loop with the rest already buffered.
        StartServer(o => o.SmallFileLimit = 0);
        using var sent = new ManualResetEventSlim();
        Server.ForceCacheMiss = true;
        Server.BeforeBlockingOpen = () => sent.Wait(Limit);
        using Socket socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes(Pipeline.Replace("Connection: close\r\n", halfClose ? "" : "Connection: close\r\n", StringComparison.Ordinal)));
        if (halfClose)
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        await Task.Delay(50); // the read is handled and the rest buffered (if not yet, the test is weaker, not wrong)
        sent.Set();
        AssertAnsweredInOrder(Encoding.Latin1.GetString(await ReceiveToEndAsync(socket)));
    }

    private static void AssertAnsweredInOrder(string response)
    {
        int first = response.IndexOf("hello, world", StringComparison.Ordinal);
        int second = response.IndexOf("Content-Length: 1024", StringComparison.Ordinal);
        int third = response.IndexOf("404 Not Found", StringComparison.Ordinal);
        int fourth = response.IndexOf("{\"kevents\":true}", StringComparison.Ordinal);
        Assert.True(first > 0 && second > first && third > second && fourth > third, response);
        Assert.Equal(4, response.Split("HTTP/1.1 ").Length - 1);
    }
}
