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
            var released = new TaskCompletionSource();
            loop.Post(() =>
            {
                server.Dispose();
                released.TrySetResult();
            });
            released.Task.Wait(TimeSpan.FromSeconds(5));
            loop.Dispose();
            running.Wait(TimeSpan.FromSeconds(5));
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

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--connections", "0")]
    [InlineData("--size")]
    [InlineData("--rate", "fast")]
    [InlineData("--duration", "-1")]
    [InlineData("--scenario", "smtp")]
    [InlineData("stray")]
    public async Task BadFlagsPrintUsageAndExitWithTwo(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(args, stdout, stderr, stderrIsTerminal: false);

        Assert.Equal(2, exitCode);
        Assert.Contains("Usage: LoadGen", stderr.ToString());
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

    private sealed class EchoHandler : IStreamHandler
    {
        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
    }
}
