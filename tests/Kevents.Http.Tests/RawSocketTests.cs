using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Kevents.Http.Tests;

/// <summary>What HttpClient would never send: oversize heads, smuggling shapes, malformed framing, slow clients.</summary>
public sealed class RawSocketTests : HttpTest
{
    public RawSocketTests() => StartServer(o => o.HeaderTimeout = TimeSpan.FromSeconds(1));

    [Theory]
    // Framing and smuggling shapes.
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\nab", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nab", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501)]
    [InlineData("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000000\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400)]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\0\r\nabc\r\n0\r\n\r\n", 400)]
    // Control characters in names, bare CR, obs-fold, bad lines.
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\nX\0: y\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\nX\rY: y\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\nX\u0001: y\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHo st: x\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\rHost: x\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: x\r\nX: y\r\n\tfolded\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\nHost: x\n\n", 400)]
    [InlineData("GARBAGE\r\n\r\n", 400)]
    [InlineData("GET  /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n", 505)]
    public async Task BadInputIsAnsweredAndClosed(string request, int status)
    {
        // RawExchangeAsync reads until the server closes: a server that kept the connection would time out here.
        string response = Encoding.Latin1.GetString(await RawExchangeAsync(request));
        Assert.Equal(status, StatusOf(Encoding.Latin1.GetBytes(response)));
        Assert.Contains("Connection: close", response);
        // Never two requests from one: nothing but the one error response.
        Assert.Equal(1, CountOf(response, "HTTP/1.1 "));
    }

    [Fact]
    public async Task RequestLineOver8KiBIs414()
    {
        byte[] response = await RawExchangeAsync($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(414, StatusOf(response));
    }

    [Fact]
    public async Task RequestLineThatNeverEndsIs414()
    {
        // No CRLF ever comes: refused once over the limit, not buffered forever.
        byte[] response = await RawExchangeAsync($"GET /{new string('a', 20_000)}");
        Assert.Equal(414, StatusOf(response));
    }

    [Fact]
    public async Task MoreThan100HeadersIs431()
    {
        var request = new StringBuilder("GET /plaintext HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 100; i++)
        {
            request.Append(CultureInvariant($"X-Filler-{i}: {i}\r\n"));
        }
        byte[] response = await RawExchangeAsync(request.Append("\r\n").ToString());
        Assert.Equal(431, StatusOf(response));
    }

    [Fact]
    public async Task HeadersOver32KiBAre431()
    {
        string big = new('v', 8000);
        var request = new StringBuilder("GET /plaintext HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 5; i++)
        {
            request.Append(CultureInvariant($"X-Big-{i}: {big}\r\n"));
        }
        byte[] response = await RawExchangeAsync(request.Append("\r\n").ToString());
        Assert.Equal(431, StatusOf(response));
    }

    [Fact]
    public async Task DeclaredBodyOver1MiBIs413WithoutWaitingForIt()
    {
        byte[] response = await RawExchangeAsync("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n");
        Assert.Equal(413, StatusOf(response));
    }

    [Fact]
    public async Task ChunkedBodyGrowingOver1MiBIs413()
    {
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
        Task<byte[]> reading = ReceiveToEndAsync(socket);
        byte[] chunk = Encoding.ASCII.GetBytes("10000\r\n" + new string('a', 0x10000) + "\r\n");
        try
        {
            for (int i = 0; i < 17 && !reading.IsCompleted; i++)
            {
                await socket.SendAsync(chunk);
            }
        }
        catch (SocketException)
        {
            // The server closed while we still sent: fine, the answer is already on its way.
        }
        Assert.Equal(413, StatusOf(await reading));
    }

    [Fact]
    public async Task PipelinedRequestsAreAnsweredInOrderInOneFlush()
    {
        string request = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
            + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            + "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3;ext=1\r\nond\r\n0\r\nTrailer: t\r\n\r\n"
            + "GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        string response = Encoding.Latin1.GetString(await RawExchangeAsync(request));
        int first = response.IndexOf("Hello, World!", StringComparison.Ordinal);
        int second = response.IndexOf("\r\n\r\nfirst", StringComparison.Ordinal);
        int third = response.IndexOf("404 Not Found", StringComparison.Ordinal);
        int fourth = response.IndexOf("\r\n\r\nsecond", StringComparison.Ordinal);
        int fifth = response.IndexOf("{\"message\"", StringComparison.Ordinal);
        Assert.True(first > 0 && second > first && third > second && fourth > third && fifth > fourth, response);
        Assert.Equal(5, CountOf(response, "HTTP/1.1 "));
    }

    [Fact]
    public async Task SixteenPipelinedRequestsInOneReadAreSentWithOneSend()
    {
        using Socket socket = await ConnectAsync();
        socket.NoDelay = true;
        string one = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(one, 16))));
        string all = await ReceiveUntilAsync(socket, "Hello, World!", 16);
        Assert.Equal(16, CountOf(all, "HTTP/1.1 200 OK"));
        // Responses are appended to one buffer and sent when the read batch ends: one send per read, however many
        // requests the read held (one send per response would make 16).
        (long reads, long sends) = await OnLoop(() => (Server.Reads, Server.Sends));
        Assert.Equal(reads, sends);
        Assert.InRange(reads, 1, 15);
    }

    [Fact]
    public async Task DeepPipelineIsParsedInPlace()
    {
        const int count = 3000;
        int sent = await ExchangePipelineAsync("HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", count);
        (long moved, int most) = await OnLoop(() => (Server.InputBytesMoved, Server.MostRequestsInOneTurn));
        // Moving the rest of the buffer for each request would move far more than was sent (quadratic); in place,
        // only a partial request at the end of a read is ever copied.
        Assert.True(moved <= sent, $"{moved} input bytes moved for {sent} received");
        // And the pipeline was answered in turns of at most MaxRequestsPerTurn, so it could not hold the loop.
        Assert.InRange(most, 1, 32);
    }

    [Fact]
    public async Task HalfClosedDeepPipelineIsStillAnsweredInFull()
    {
        // More requests than one turn's share, then the client's FIN at once: the requests waiting for the next
        // turn must still be answered before the server closes.
        const int count = 200;
        string pipeline = string.Concat(Enumerable.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", count));
        using Socket socket = await ConnectAsync();
        await socket.SendAsync(Encoding.ASCII.GetBytes(pipeline));
        socket.Shutdown(SocketShutdown.Send);
        string response = Encoding.Latin1.GetString(await ReceiveToEndAsync(socket));
        Assert.Equal(count, CountOf(response, "Hello, World!"));
    }

    [Fact]
    public async Task Http10ClosesUnlessKeepAliveIsAsked()
    {
        string closed = Encoding.Latin1.GetString(await RawExchangeAsync("GET /plaintext HTTP/1.0\r\n\r\n"));
        Assert.Contains("Connection: close", closed);

        using Socket socket = await ConnectAsync();
        await socket.SendAsync("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"u8.ToArray());
        string first = await ReceiveUntilAsync(socket, "Hello, World!");
        Assert.Contains("\r\nConnection: keep-alive\r\n", first);
        await socket.SendAsync("GET /json HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        Assert.DoesNotContain("Connection:", await ReceiveUntilAsync(socket, "}"));
    }

    [Fact]
    public async Task HalfClosedClientStillGetsItsResponses()
    {
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        socket.Shutdown(SocketShutdown.Send);
        string response = Encoding.Latin1.GetString(await ReceiveToEndAsync(socket));
        Assert.EndsWith("Hello, World!", response);
        Assert.Contains("slow", response);
    }

    [Fact]
    public async Task SlowlorisGets408AtTheHeaderTimeoutNotExtendedPerByte()
    {
        var clock = Stopwatch.StartNew(); // before the connect: the server's deadline starts at accept, never earlier
        using Socket socket = await ConnectAsync();
        // The first byte goes at once, with no awaited hop after the connect: a client that resumed late would find the
        // connection closed as silent (no bytes, no 408). The rest trickles for 8 s, one byte every 50 ms.
        byte[] head = Encoding.Latin1.GetBytes("GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Slow: " + new string('a', 125));
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
        var clock = Stopwatch.StartNew();
        using Socket socket = await ConnectAsync();
        Assert.Empty(await ReceiveToEndAsync(socket));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(950), TimeSpan.FromSeconds(4.5));
    }

    [Fact]
    public async Task ShutdownFinishesTheRequestInFlightAndClosesIdleConnections()
    {
        using Socket idle = await ConnectAsync();
        await idle.SendAsync("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        await ReceiveUntilAsync(idle, "Hello, World!");

        using Socket busy = await ConnectAsync();
        await busy.SendAsync("GET /slow HTTP/1.1\r\nHost: x\r\nX-Delay: 300\r\n\r\n"u8.ToArray());
        await WaitUntilAsync(() => Server.Requests == 2, "the slow request started");

        Task drained = Server.ShutdownAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(await ReceiveToEndAsync(idle));
        string rest = Encoding.Latin1.GetString(await ReceiveToEndAsync(busy));
        await drained.WaitAsync(Limit);
        Assert.EndsWith("slow", rest);
        Assert.Contains("Connection: close", rest);
    }

    private static string CultureInvariant(FormattableString text) => FormattableString.Invariant(text);
}
