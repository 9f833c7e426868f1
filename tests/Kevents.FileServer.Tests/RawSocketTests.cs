using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Kevents.FileServer.Tests;

/// <summary>What HttpClient would never send: traversal spellings, oversize heads, malformed framing, slow and vanishing clients.</summary>
public sealed class RawSocketTests : FileServerTest
{
    public RawSocketTests() => StartServer(o => o.HeaderTimeout = TimeSpan.FromSeconds(1));

    [Theory]
    [InlineData("/../secret")]
    [InlineData("/%2e%2e/secret")]
    [InlineData("/%2E%2E%2Fsecret")]
    [InlineData("/sub/..%2F..%2Fsecret")]
    [InlineData("/a/%00")]
    [InlineData("/hello.txt%00.png")]
    [InlineData("//etc/passwd")]
    [InlineData("/%2F%2Fetc/passwd")]
    [InlineData("/..%5csecret")]
    [InlineData("/..\\secret")]
    [InlineData("/link-out")]
    [InlineData("/link-up")]
    [InlineData("http://127.0.0.1/../secret")]
    [InlineData("/sub/../../secret")]
    [InlineData("/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd")]
    public async Task TraversalIsRefusedAndNeverServesTheSecret(string target)
    {
        byte[] response = await RawExchangeAsync($"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        int status = StatusOf(response);
        Assert.Contains(status, new[] { 400, 403, 404 });
        Assert.True(response.AsSpan().IndexOf(TestSite.SecretBytes) < 0, "the secret's bytes were served");
        Assert.DoesNotContain("root:", Encoding.Latin1.GetString(response));
    }

    [Fact]
    public async Task SymlinkInsideTheRootIsFollowed()
    {
        byte[] response = await RawExchangeAsync("GET /link-in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, StatusOf(response));
        Assert.EndsWith("hello, world\n", Encoding.Latin1.GetString(response));
    }

    [Fact]
    public async Task RequestLineOver8KiBIs414()
    {
        byte[] response = await RawExchangeAsync($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(414, StatusOf(response));
    }

    [Fact]
    public async Task TooManyHeadersIs431()
    {
        var request = new StringBuilder("GET /hello.txt HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 120; i++)
        {
            request.Append($"X-Filler-{i}: {i}\r\n");
        }
        byte[] response = await RawExchangeAsync(request.Append("\r\n").ToString());
        Assert.Equal(431, StatusOf(response));
    }

    [Fact]
    public async Task HeadersOver32KiBAre431()
    {
        string big = new('v', 8000);
        var request = new StringBuilder("GET /hello.txt HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 5; i++)
        {
            request.Append($"X-Big-{i}: {big}\r\n");
        }
        byte[] response = await RawExchangeAsync(request.Append("\r\n").ToString());
        Assert.Equal(431, StatusOf(response));
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n", 400)]
    [InlineData("GET /hello.txt\r\n\r\n", 400)]
    [InlineData("GET  /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\nHost: x\n\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHo st: x\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX\0: y\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501)]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 413)]
    [InlineData("GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505)]
    public async Task MalformedRequestIsAnsweredAndClosed(string request, int status)
    {
        // RawExchangeAsync reads until the server closes: a server that kept the connection would time out here.
        byte[] response = await RawExchangeAsync(request);
        Assert.Equal(status, StatusOf(response));
        Assert.Contains("Connection: close", Encoding.Latin1.GetString(response));
    }

    [Fact]
    public async Task PipelinedRequestsAreAnsweredInOrder()
    {
        string request = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
            + "HEAD /one-k.bin HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        string response = Encoding.Latin1.GetString(await RawExchangeAsync(request));
        int first = response.IndexOf("hello, world", StringComparison.Ordinal);
        int second = response.IndexOf("Content-Length: 1024", StringComparison.Ordinal);
        int third = response.IndexOf("404 Not Found", StringComparison.Ordinal);
        int fourth = response.IndexOf("{\"kevents\":true}", StringComparison.Ordinal);
        Assert.True(first > 0 && second > first && third > second && fourth > third, response);
        Assert.Equal(4, response.Split("HTTP/1.1 ").Length - 1);
    }

    [Fact]
    public async Task Http10ClosesUnlessKeepAliveIsAsked()
    {
        byte[] closed = await RawExchangeAsync("GET /hello.txt HTTP/1.0\r\n\r\n");
        Assert.Equal(200, StatusOf(closed));

        using Socket socket = await ConnectAsync();
        await socket.SendAsync("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"u8.ToArray());
        byte[] buffer = new byte[4096];
        int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
        Assert.EndsWith("hello, world\n", Encoding.Latin1.GetString(buffer, 0, n));
        await socket.SendAsync("GET /data.json HTTP/1.0\r\n\r\n"u8.ToArray());
        Assert.EndsWith("{\"kevents\":true}", Encoding.Latin1.GetString(await ReceiveToEndAsync(socket)));
    }

    [Fact]
    public async Task HalfClosedClientStillGetsItsResponse()
    {
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("GET /one-m.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send);
        byte[] response = await ReceiveToEndAsync(socket);
        Assert.True(response.AsSpan().EndsWith(Site.Files["one-m.bin"]));
    }

    [Fact]
    public async Task AbortedDownloadClosesTheFile()
    {
        using (Socket socket = await ConnectAsync())
        {
            socket.ReceiveBufferSize = 16 * 1024;
            await socket.SendAsync("GET /five-m.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
            byte[] buffer = new byte[4096];
            int received = 0;
            while (received < 8192)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
                Assert.True(n > 0);
                received += n;
            }
            // Reset rather than FIN, as a browser tab closing mid-download would.
            socket.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        }
        await WaitUntilAsync(() => Server.ConnectionCount == 0, "the server closed the connection");
        Assert.Equal(1, await OnLoop(() => Server.Stats.AbortedResponses));
        // The fd gate in Dispose checks that the file's descriptor was closed with the socket.
    }

    [Fact]
    public async Task SlowlorisGets408AtTheHeaderTimeoutNotExtendedPerByte()
    {
        var clock = Stopwatch.StartNew(); // before the connect: the server's deadline starts at accept, never earlier
        using Socket socket = await ConnectAsync();
        // The first byte goes at once, with no awaited hop after the connect: a client that resumed late would find the
        // connection closed as silent (no bytes, no 408). The rest trickles for 8 s, one byte every 50 ms.
        byte[] head = Encoding.Latin1.GetBytes("GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + new string('a', 125));
        socket.Send(head.AsSpan(0, 1));
        Task<byte[]> reading = ReceiveToEndAsync(socket);
        await TrickleAsync(socket, head[1..], reading, TimeSpan.FromMilliseconds(50));
        byte[] response = await reading;
        TimeSpan elapsed = clock.Elapsed;
        Assert.Equal(408, StatusOf(response));
        // Never early; and bytes arriving every 50 ms did not push the 1 s deadline out (pushed, it would fall at least
        // 1 s after the trickle's 8 s; the bound leaves a slow machine 3.5 s of slack).
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(4.5));
    }

    [Fact]
    public async Task SilentConnectionIsClosedAtTheHeaderTimeout()
    {
        // The clock starts before the connect: the server's deadline starts at accept, which cannot come earlier,
        // so a client thread that resumes late on a busy machine cannot make the close look early.
        var clock = Stopwatch.StartNew();
        using Socket socket = await ConnectAsync();
        byte[] response = await ReceiveToEndAsync(socket);
        Assert.Empty(response);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(4.5));
    }

    [Fact]
    public async Task ShutdownFinishesTheDownloadInFlightAndClosesIdleConnections()
    {
        using Socket idle = await ConnectAsync();
        await idle.SendAsync("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        byte[] buffer = new byte[4096];
        await idle.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);

        using Socket busy = await ConnectAsync();
        busy.ReceiveBufferSize = 16 * 1024;
        await busy.SendAsync("GET /five-m.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await busy.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);

        Task drained = Server.ShutdownAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(await ReceiveToEndAsync(idle));
        byte[] rest = await ReceiveToEndAsync(busy);
        await drained.WaitAsync(Limit);
        Assert.True(rest.AsSpan().EndsWith(Site.Files["five-m.bin"].AsSpan(^4096..)));
        await Assert.ThrowsAsync<SocketException>(ConnectAsync);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ShutdownWithANeverEndingDrainTimeoutLetsTheDownloadFinish(bool maxValue)
    {
        // Issue 8 item 14: Ticks * 100 overflowed for InfiniteTimeSpan (into the past) and MaxValue (wrapping), so
        // the drain deadline had passed before it began and every download in flight was aborted at once.
        using Socket busy = await ConnectAsync();
        busy.ReceiveBufferSize = 16 * 1024;
        await busy.SendAsync("GET /five-m.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        byte[] buffer = new byte[4096];
        await busy.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);

        Task drained = Server.ShutdownAsync(maxValue ? TimeSpan.MaxValue : Timeout.InfiniteTimeSpan);
        // Let a few loop turns pass with the reader stalled, so a deadline already in the past would have struck.
        await Task.Delay(200);
        byte[] rest = await ReceiveToEndAsync(busy);
        await drained.WaitAsync(Limit);
        Assert.True(rest.AsSpan().EndsWith(Site.Files["five-m.bin"].AsSpan(^4096..)), $"the download was cut short after {rest.Length} more bytes");
    }

    [Fact]
    public void ShutdownRejectsANegativeDrainTimeoutNamingIt()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = Server.ShutdownAsync(TimeSpan.FromSeconds(-1)); });
        Assert.Equal("drainTimeout", error.ParamName);
    }
}
