using System.Net;
using System.Text.Json;
using Kevents.Net;
using Kevents.Tests;
using LoadGen;

namespace Kevents.Samples.Tests;

/// <summary>LoadGen end to end against an echo server on a loopback port (or Unix socket) in this process.</summary>
public class LoadGenTests : GatedTest
{
    private static LoadOptions Options(IPEndPoint server, double seconds, int connections = 16, int depth = 4) => new()
    {
        Host = server.Address.ToString(),
        Port = server.Port,
        Connections = connections,
        Depth = depth,
        MessageSize = 64,
        Duration = TimeSpan.FromSeconds(seconds),
        Warmup = TimeSpan.FromSeconds(0.2),
    };

    [Fact]
    public async Task ClosedLoopEchoIsCleanAndClosesEveryConnection()
    {
        using var server = new InProcessEchoServer();
        LoadResult result = await LoadRunner.RunAsync(Options(server.EndPoint, seconds: 1));

        Assert.Equal(16, result.Connected);
        Assert.True(result.Messages > 0, result.ToSummaryLine());
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.True(result.IsClean);
        Assert.InRange(result.Seconds, 0.99, 1.01);
        Assert.True(result.P50Us > 0 && result.P50Us <= result.P99Us && result.P99Us <= result.MaxUs, result.ToSummaryLine());
        Assert.Equal(result.Messages * 64 / result.Seconds / 1e6, result.MegabytesPerSecond, 1);
        // LoadGen closed its side of every connection; the server sees them all go.
        await WaitUntil(() => server.ConnectionCount == 0);
    }

    [Fact]
    public async Task ConnectionsSpreadOverSeveralLoopsStayByteExact()
    {
        using var server = new InProcessEchoServer();
        LoadOptions options = Options(server.EndPoint, seconds: 0.5, connections: 8, depth: 3);
        options.Loops = 2;
        options.MessageSize = 5000; // larger than one segment and not a divisor of the pattern
        options.Scenario = new EchoScenario(5000);
        LoadResult result = await LoadRunner.RunAsync(options);

        Assert.True(result.IsClean, result.ToSummaryLine());
        Assert.Equal(2, result.Loops);
    }

    [Fact]
    public async Task OneFlippedByteIsCountedAsAMismatchAndFailsTheRun()
    {
        // The server flips one byte, 1000 bytes into the first connection it serves.
        using var server = new InProcessEchoServer(corruptAt: 1000);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(
            ["--port", server.EndPoint.Port.ToString(), "--connections", "4", "--duration", "0.5", "--warmup", "0", "--quiet"],
            stdout, stderr, stderrIsTerminal: false);

        Assert.Equal(1, exitCode);
        Assert.Contains("mismatches=1", stdout.ToString());
        Assert.Contains("did not match", stderr.ToString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OpenLoopHoldsTheRequestedRateAndRecordsLatency(bool spin)
    {
        using var server = new InProcessEchoServer();
        LoadOptions options = Options(server.EndPoint, seconds: 1);
        options.Rate = 2000;
        options.Spin = spin;
        LoadResult result = await LoadRunner.RunAsync(options);

        Assert.Equal("open", result.Mode);
        // 2000 intended sends fall in a 1 s window; answers may trail the window's edges by a little.
        Assert.InRange(result.ScheduledSends, 1900, 2100);
        Assert.InRange(result.Messages, 1500, 2300);
        Assert.InRange(result.MessagesPerSecond, 1500, 2300);
        Assert.True(result.P50Us > 0 && result.MaxUs >= result.P99Us, result.ToSummaryLine());
        Assert.Equal(0, result.Errors);
        Assert.Equal(0, result.Mismatches);
        Assert.Contains("late_sends=", result.ToSummaryLine());
    }

    [Fact]
    public async Task UnixSocketTargetWorks()
    {
        using TempUnixPath path = TestUtil.UniqueUnixPath();
        using var loop = new EventLoop();
        SocketServer server = loop.ListenUnix(path.Path, new EchoHandler());
        Task running = loop.RunAsync();
        try
        {
            LoadResult result = await LoadRunner.RunAsync(new LoadOptions
            {
                UnixPath = path.Path,
                Connections = 4,
                Depth = 2,
                Duration = TimeSpan.FromSeconds(0.3),
                Warmup = TimeSpan.Zero,
            });
            Assert.True(result.IsClean, result.ToSummaryLine());
        }
        finally
        {
            loop.DisposeWithServer(running, server);
        }
    }

    [Fact]
    public async Task ConnectRefusedIsCountedNotHung()
    {
        // A port that was just free: the server is gone, so connects are refused.
        int port;
        using (var server = new InProcessEchoServer())
        {
            port = server.EndPoint.Port;
        }
        LoadResult result = await LoadRunner.RunAsync(Options(new IPEndPoint(IPAddress.Loopback, port), seconds: 0.2, connections: 3));

        Assert.Equal(3, result.ConnectErrors);
        Assert.Equal(0, result.Connected);
        Assert.Equal(0, result.Messages);
        Assert.False(result.IsClean);
        Assert.Contains("refused", result.FirstError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task JsonOutputIsOneObjectWithTheSummaryFields()
    {
        using var server = new InProcessEchoServer();
        var stdout = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(
            ["--port", server.EndPoint.Port.ToString(), "-c", "2", "--duration", "0.3", "--warmup", "0", "--json"],
            stdout, new StringWriter(), stderrIsTerminal: false);

        Assert.Equal(0, exitCode);
        string[] lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        using JsonDocument json = JsonDocument.Parse(lines[0]);
        JsonElement root = json.RootElement;
        Assert.True(root.GetProperty("msgs").GetInt64() > 0);
        Assert.True(root.GetProperty("p99_us").GetDouble() > 0);
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.Equal("closed", root.GetProperty("mode").GetString());
    }

    [Fact]
    public async Task ChurnReplacesEachConnectionAfterItsAnswersAndStaysClean()
    {
        using var server = new InProcessEchoServer();
        LoadOptions options = Options(server.EndPoint, seconds: 0.5, connections: 4, depth: 2);
        options.Churn = 5;
        LoadResult result = await LoadRunner.RunAsync(options);

        Assert.True(result.IsClean, result.ToSummaryLine());
        Assert.Equal(0, result.ResetCloses);
        // Every 5 answers a connection closes and another takes its place; over 0.7 s that is many of them.
        Assert.True(result.Replacements >= 8, result.ToSummaryLine());
        Assert.Contains("churn=5", result.ToSummaryLine());
        await WaitUntil(() => server.ConnectionCount == 0);
        // Each replacement was a new connection to the server.
        Assert.True(server.TotalAccepted >= 4 + result.Replacements, $"accepted {server.TotalAccepted}, {result.ToSummaryLine()}");
    }

    [Fact]
    public async Task ChurnWithResetFractionEndsSomeConnectionsByResetWithoutCountingErrors()
    {
        using var server = new InProcessEchoServer();
        LoadOptions options = Options(server.EndPoint, seconds: 0.5, connections: 4, depth: 1);
        options.Churn = 3;
        options.ResetFraction = 0.5;
        LoadResult result = await LoadRunner.RunAsync(options);

        // The half requests the resets cut off are not answered and are not errors or mismatches.
        Assert.True(result.IsClean, result.ToSummaryLine());
        Assert.True(result.ResetCloses > 0, result.ToSummaryLine());
        // Both ends happen: about half of the replaced connections ended by a reset, the rest cleanly.
        Assert.InRange(result.ResetCloses, 1, result.Replacements + 4 - 1);
        await WaitUntil(() => server.ConnectionCount == 0);
    }

    [Fact]
    public async Task OpenLoopChurnKeepsTheScheduleAcrossReplacements()
    {
        using var server = new InProcessEchoServer();
        LoadOptions options = Options(server.EndPoint, seconds: 1, connections: 4);
        options.Rate = 1000;
        options.Churn = 10;
        LoadResult result = await LoadRunner.RunAsync(options);

        string summary = $"{result.ToSummaryLine()} scheduled_sends={result.ScheduledSends}";
        Assert.True(result.IsClean, summary);
        // A replacement takes over its predecessor's place on the schedule, so the rate holds through churn: the
        // sends that fell due while it connected go out late instead of being skipped. Only those due during the
        // very last reconnects can be missing, and a loaded machine makes those reconnects slow.
        Assert.True(result.ScheduledSends is >= 900 and <= 1050, summary);
        Assert.True(result.Messages is >= 600 and <= 1150, summary);
        Assert.True(result.Replacements >= 50, summary);
    }

    [Fact]
    public async Task HttpScenarioCountsResponsesFramedByContentLength()
    {
        using var loop = new EventLoop();
        SocketServer server = loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), new TinyHttpHandler());
        Task running = loop.RunAsync();
        try
        {
            var stdout = new StringWriter();
            int exitCode = await LoadGenCli.RunAsync(
                ["--port", ((IPEndPoint)server.LocalEndPoint).Port.ToString(), "-c", "3", "--depth", "2", "--duration", "0.3",
                    "--warmup", "0", "--scenario", "http", "--path", "/a.txt", "--churn", "4", "--quiet"],
                stdout, new StringWriter(), stderrIsTerminal: false);

            Assert.Equal(0, exitCode);
            Assert.Contains("scenario=http", stdout.ToString());
            Assert.Contains("errors=0 mismatches=0", stdout.ToString());
        }
        finally
        {
            loop.DisposeWithServer(running, server);
        }
    }

    [Fact]
    public void HttpSessionFollowsResponsesSplitAnywhereAndFlagsWhatItCannotFrame()
    {
        var scenario = new HttpScenario("/x", "h");
        byte[] two = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404 Not Found\r\ncontent-length:0\r\n\r\n"u8.ToArray();

        // Byte by byte: two responses, the 404 counted as a mismatch.
        ILoadSession session = scenario.CreateSession(0);
        Span<byte> request = new byte[scenario.MaxRequestSize];
        Assert.Equal("GET /x HTTP/1.1\r\nHost: h\r\n\r\n", System.Text.Encoding.ASCII.GetString(request[..session.WriteRequest(request)]));
        session.WriteRequest(request);
        int completed = 0;
        int mismatched = 0;
        foreach (byte b in two)
        {
            ResponseProgress p = session.ReadResponses([b]);
            Assert.False(p.Broken);
            completed += p.Completed;
            mismatched += p.Mismatched;
        }
        Assert.Equal((2, 1), (completed, mismatched));

        // All at once gives the same; one more byte than was asked for breaks the stream.
        session = scenario.CreateSession(1);
        session.WriteRequest(request);
        session.WriteRequest(request);
        Assert.Equal(new ResponseProgress(2, 1), session.ReadResponses(two));
        Assert.True(session.ReadResponses("H"u8).Broken);

        // No Content-Length cannot be framed.
        session = scenario.CreateSession(2);
        session.WriteRequest(request);
        Assert.True(session.ReadResponses("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"u8).Broken);
    }

    [Theory]
    [InlineData("Unrecognized command or argument '--bogus'", "--bogus")]
    [InlineData("--connections must be a whole number from 1 to 1000000 (got '0')", "--connections", "0")]
    [InlineData("Required argument missing for option: '--size'", "--size")]
    [InlineData("--rate must be a number from 0 to 1000000000 (got 'fast')", "--rate", "fast")]
    [InlineData("--duration must be a number from 0.001 to 604800 (got '-1')", "--duration", "-1")]
    [InlineData("--scenario must be one of echo, http, resp (got 'smtp')", "--scenario", "smtp")]
    [InlineData("--reset-fraction needs --churn", "--reset-fraction", "0.5")]
    [InlineData("--reset-fraction must be a number from 0 to 1 (got '1.5')", "--churn", "2", "--reset-fraction", "1.5")]
    [InlineData("--path must be a path that starts with /", "--scenario", "http", "--path", "no-slash")]
    [InlineData("--port must be a whole number from 1 to 65535 (got '0')", "--port", "0")]
    [InlineData("Unrecognized command or argument 'stray'", "stray")]
    public async Task BadFlagsNameTheFlagAndWhatIsAllowedThenPrintUsageAndExitWithTwo(string message, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(args, stdout, stderr, stderrIsTerminal: false);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"LoadGen: {message}", stderr.ToString());
        Assert.Contains("LoadGen [options]", stderr.ToString());
        Assert.Equal("", stdout.ToString());
    }

    [Fact]
    public async Task HelpPrintsUsageAndExitsWithZero()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, await LoadGenCli.RunAsync(["--help"], stdout, new StringWriter(), stderrIsTerminal: false));
        Assert.Contains("--rate", stdout.ToString());
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + TestUtil.DefaultTimeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true in time.");
            await Task.Delay(10);
        }
    }

    /// <summary>Answers every request head with a 5-byte body, in order, on the same connection.</summary>
    private sealed class TinyHttpHandler : IStreamHandler
    {
        // How much of "\r\n\r\n" each connection has seen at the end of its last read (loop thread only).
        private readonly Dictionary<long, int> _matched = [];

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
            // Count "\r\n\r\n" across reads: one response per complete head.
            int matched = _matched.GetValueOrDefault(connection.Id);
            foreach (byte b in data)
            {
                matched = b == (matched % 2 == 0 ? (byte)'\r' : (byte)'\n') ? matched + 1 : (b == '\r' ? 1 : 0);
                if (matched == 4)
                {
                    matched = 0;
                    connection.Write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"u8);
                }
            }
            _matched[connection.Id] = matched;
        }

        public void OnClosed(StreamConnection connection, Exception? error) => _matched.Remove(connection.Id);
    }

    private sealed class EchoHandler : IStreamHandler
    {
        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
    }
}
