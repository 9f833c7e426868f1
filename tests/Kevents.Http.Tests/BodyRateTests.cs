using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Tests;

namespace Kevents.Http.Tests;

/// <summary>
/// The minimum request-body rate (HttpServerOptions.MinRequestBodyDataRate): a body trickling in below it is cut with
/// 408, one arriving faster is never cut, and time in which the handler is not reading is not held against the client.
/// </summary>
public sealed class BodyRateTests : HttpTest
{
    // 10 B/s, until the server answers (or far past the point where it should have).
    private static readonly byte[] XEvery100MsFor20s = Enumerable.Repeat((byte)'x', 200).ToArray();

    [Fact]
    public async Task BodyAt10BytesPerSecondIsAnswered408AndClosed()
    {
        StartRateServer(240, TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"u8.ToArray());
        Task<byte[]> reading = ReceiveToEndAsync(socket);
        await TrickleAsync(socket, XEvery100MsFor20s, reading, TimeSpan.FromMilliseconds(100));
        byte[] response = await reading;
        Assert.Equal(408, StatusOf(response));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"cut only after {clock.Elapsed}");
        Assert.Equal(1, await OnLoop(() => Server.ProtocolErrors));
    }

    [Fact]
    public async Task BodyAtTwiceTheMinimumIsNeverCut()
    {
        StartRateServer(200, TimeSpan.FromSeconds(1));
        using Socket socket = await ConnectAsync();
        const int Pieces = 25;
        await socket.SendAsync(Encoding.Latin1.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {Pieces * 40}\r\n\r\n"));
        // 40 bytes every 100 ms (400 B/s) on a fixed schedule, so a late wake-up is caught up rather than slowing
        // the whole body down; from a thread of its own, which a starved thread pool cannot hold back.
        await ClientSockets.SendPacedAsync(socket, Encoding.Latin1.GetBytes(new string('b', 40)), Pieces, TimeSpan.FromMilliseconds(100))
            .WaitAsync(Limit);
        string response = await ReceiveUntilAsync(socket, new string('b', Pieces * 40));
        Assert.StartsWith("HTTP/1.1 200 ", response);
        Assert.Equal(0, await OnLoop(() => Server.ProtocolErrors));
    }

    [Fact]
    public async Task HandlerNotReadingDoesNotCountAgainstTheClient()
    {
        // The handler waits three windows before its first read and between its reads; the client sent everything at
        // once. Counted on a wall clock, every window after the first would show nothing arriving.
        StartRateServer(240, TimeSpan.FromMilliseconds(300), LazyReaderAsync);
        using Socket socket = await ConnectAsync();
        const int Length = 100 * 1024; // more than the server's 64 KiB body window: the rest waits for the handler
        await socket.SendAsync(Encoding.Latin1.GetBytes($"POST /lazy HTTP/1.1\r\nHost: x\r\nContent-Length: {Length}\r\n\r\n"));
        await socket.SendAsync(new byte[Length]);
        string response = await ReceiveUntilAsync(socket, $"read {Length}");
        Assert.StartsWith("HTTP/1.1 200 ", response);
        Assert.Equal(0, await OnLoop(() => Server.ProtocolErrors));
    }

    [Fact]
    public async Task UnreadRestOfASlowBodyIsCutAfterTheResponse()
    {
        // /ignore answers without reading; the rest of the body is then read and dropped on the body clock.
        StartRateServer(240, TimeSpan.FromMilliseconds(500));
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"u8.ToArray());
        Task<byte[]> reading = ReceiveToEndAsync(socket);
        await TrickleAsync(socket, XEvery100MsFor20s, reading, TimeSpan.FromMilliseconds(100));
        string response = Encoding.Latin1.GetString(await reading);
        Assert.StartsWith("HTTP/1.1 200 ", response);
        Assert.EndsWith("ignored", response);
        Assert.Equal(1, await OnLoop(() => Server.ProtocolErrors));
    }

    [Fact]
    public async Task DisabledCheckLeavesASlowBodyAlone()
    {
        StartRateServer(null, TimeSpan.FromMilliseconds(100));
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n"u8.ToArray());
        for (int i = 0; i < 8; i++)
        {
            await Task.Delay(100);
            await socket.SendAsync("z"u8.ToArray());
        }
        string response = await ReceiveUntilAsync(socket, "zzzzzzzz");
        Assert.StartsWith("HTTP/1.1 200 ", response);
    }

    [Theory]
    [InlineData(-1.0, 5.0, "MinRequestBodyDataRate")]
    [InlineData(double.NaN, 5.0, "MinRequestBodyDataRate")]
    [InlineData(double.PositiveInfinity, 5.0, "MinRequestBodyDataRate")]
    [InlineData(240.0, 0.0, "MinRequestBodyDataRateGracePeriod")]
    [InlineData(240.0, -2.0, "MinRequestBodyDataRateGracePeriod")]
    public void BadSettingsAreRefusedWithTheirName(double rate, double graceSeconds, string name)
    {
        var options = new HttpServerOptions
        {
            MinRequestBodyDataRate = rate,
            MinRequestBodyDataRateGracePeriod = TimeSpan.FromSeconds(graceSeconds),
        };
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => Loop.ListenHttp(new IPEndPoint(IPAddress.Loopback, 0), TestRoutes.Handle, options));
        Assert.Equal(name, error.ParamName);
    }

    [Fact]
    public void AGracePeriodIsNotNeededWhileTheCheckIsOff()
    {
        var options = new HttpServerOptions { MinRequestBodyDataRate = 0, MinRequestBodyDataRateGracePeriod = TimeSpan.Zero };
        options.Validate();
        Assert.Equal(long.MaxValue, options.MinBodyRateWindowNs);
    }

    private void StartRateServer(double? minRate, TimeSpan grace, HttpHandler? handler = null) => StartServer(o =>
    {
        o.MinRequestBodyDataRate = minRate;
        o.MinRequestBodyDataRateGracePeriod = grace;
    }, handler);

    private static async ValueTask LazyReaderAsync(HttpRequest request, HttpResponse response)
    {
        long total = 0;
        while (true)
        {
            await Task.Delay(700);
            ReadOnlyMemory<byte> piece = await request.ReadBodyAsync();
            if (piece.IsEmpty)
            {
                break;
            }
            total += piece.Length;
        }
        response.Write(Encoding.ASCII.GetBytes($"read {total}"));
    }
}
