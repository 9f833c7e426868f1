using System.Net;
using System.Text;
using Kevents.Net;
using Kevents.Tests;
using LoadGen;

namespace Kevents.Samples.Tests;

/// <summary>
/// LoadGen's protocol scenarios: RESP against an in-process responder (clean runs, closed and open loop, a spoiled
/// reply counted), and the reply parsers of both RESP and HTTP fed any split of right and wrong replies.
/// </summary>
public class LoadGenProtocolTests : GatedTest
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(args, stdout, stderr, stderrIsTerminal: false);
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("ping")]
    [InlineData("set")]
    [InlineData("get")]
    public async Task RespClosedLoopPipelinedIsCleanAgainstARealResponder(string command)
    {
        using var server = new InProcessRespServer();
        (int exitCode, string stdout, string stderr) = await Run(
            "--port", server.EndPoint.Port.ToString(), "-c", "4", "--depth", "8", "--duration", "0.4", "--warmup", "0.1",
            "--scenario", "resp", "--resp-command", command, "--key-size", "12", "--value-size", "300", "--keys", "5", "--quiet");

        Assert.True(exitCode == 0, stdout + stderr);
        Assert.Contains("scenario=resp mode=closed", stdout);
        Assert.Contains("errors=0 mismatches=0", stdout);
        Assert.True(server.Commands > 4 * 8, stdout);
    }

    [Fact]
    public async Task RespOpenLoopHoldsTheScheduleAndStaysClean()
    {
        using var server = new InProcessRespServer();
        var options = new LoadOptions
        {
            Port = server.EndPoint.Port,
            Connections = 4,
            Rate = 1000,
            Duration = TimeSpan.FromSeconds(0.5),
            Warmup = TimeSpan.FromSeconds(0.1),
            Scenario = new RespScenario(RespCommand.Get, keySize: 16, valueSize: 40, keysPerConnection: 3),
        };
        LoadResult result = await LoadRunner.RunAsync(options);

        Assert.True(result.IsClean, result.ToSummaryLine());
        Assert.Equal("open", result.Mode);
        // 500 sends are due in the window; a slow machine may leave a few of the last ones unanswered.
        Assert.True(result.Messages is >= 300 and <= 560, result.ToSummaryLine());
    }

    [Fact]
    public async Task OneSpoiledGetValueIsAMismatchAndFailsTheRun()
    {
        // The 20th GET reply has one byte flipped in the middle of its value.
        using var server = new InProcessRespServer(corruptGet: 20);
        (int exitCode, string stdout, string stderr) = await Run(
            "--port", server.EndPoint.Port.ToString(), "-c", "2", "--depth", "4", "--duration", "0.3", "--warmup", "0",
            "--scenario", "resp", "--resp-command", "get", "--keys", "4", "--quiet");

        Assert.Equal(1, exitCode);
        Assert.Contains("errors=0 mismatches=1", stdout);
        Assert.Contains("1 answers did not match", stderr);
    }

    [Fact]
    public async Task AnErrorReplyIsAMismatchAndTheRunGoesOn()
    {
        using var server = new InProcessRespServer(errorAt: 10);
        (int exitCode, string stdout, _) = await Run(
            "--port", server.EndPoint.Port.ToString(), "-c", "1", "--depth", "2", "--duration", "0.3", "--warmup", "0",
            "--scenario", "resp", "--quiet");

        Assert.Equal(1, exitCode);
        Assert.Contains("errors=0 mismatches=1", stdout);
        Assert.True(server.Commands > 20);
    }

    [Fact]
    public async Task RespRunWritesAReportThatNamesTheCommand()
    {
        using var server = new InProcessRespServer();
        using var dir = new TempDir();
        string report = Path.Combine(dir.Path, "resp.html");
        (int exitCode, string stdout, string stderr) = await Run(
            "--port", server.EndPoint.Port.ToString(), "-c", "2", "--duration", "0.3", "--warmup", "0",
            "--scenario", "resp", "--resp-command", "set", "--value-size", "10", "--quiet", "--report", report);

        Assert.True(exitCode == 0, stdout + stderr);
        Assert.Contains("resp (set, 16-byte keys, 10-byte values, 100 keys per connection)", System.IO.File.ReadAllText(report));
    }

    [Fact]
    public void RespRequestsAreTheMultibulkArraysRedisExpects()
    {
        var scenario = new RespScenario(RespCommand.Get, keySize: 12, valueSize: 5, keysPerConnection: 2);
        ILoadSession session = scenario.CreateSession(3);
        byte[] buffer = new byte[scenario.MaxRequestSize];
        string Next() => Encoding.Latin1.GetString(buffer, 0, session.WriteRequest(buffer));

        // GET loads its keys first; the key is 'k' padding and the key number (3 * 2 + j) in 9 digits.
        string set0 = Next();
        Assert.StartsWith("*3\r\n$3\r\nSET\r\n$12\r\nkkk000000006\r\n$5\r\n", set0);
        Assert.Equal(scenario.MaxRequestSize, set0.Length);
        Assert.StartsWith("*3\r\n$3\r\nSET\r\n$12\r\nkkk000000007\r\n", Next());
        Assert.Equal("*2\r\n$3\r\nGET\r\n$12\r\nkkk000000006\r\n", Next());
        Assert.Equal("*2\r\n$3\r\nGET\r\n$12\r\nkkk000000007\r\n", Next());
        Assert.Equal("*2\r\n$3\r\nGET\r\n$12\r\nkkk000000006\r\n", Next());

        var ping = new RespScenario(RespCommand.Ping).CreateSession(0);
        Assert.Equal("*1\r\n$4\r\nPING\r\n", Encoding.ASCII.GetString(buffer, 0, ping.WriteRequest(buffer)));
    }

    [Fact]
    public void RespRepliesAreFollowedInAnySplitAndWrongOnesCounted()
    {
        var scenario = new RespScenario(RespCommand.Get, keySize: 4, valueSize: 70_000, keysPerConnection: 1);
        byte[] request = new byte[scenario.MaxRequestSize];
        // The value GET must return is the one the SET carried.
        ILoadSession writer = scenario.CreateSession(0);
        string set = Encoding.Latin1.GetString(request, 0, writer.WriteRequest(request));
        byte[] value = Encoding.Latin1.GetBytes(set[^70_002..^2]);
        byte[] spoiled = [.. value];
        spoiled[69_999] ^= 1;

        byte[] replies = Concat(
            "+OK\r\n"u8.ToArray(),                                   // SET: right
            Bulk(value),                                             // GET: right
            Bulk(spoiled),                                           // GET: last byte differs
            "$-1\r\n"u8.ToArray(),                                   // GET: nil
            "-ERR no\r\n"u8.ToArray(),                               // GET: error
            Bulk(value[..10]),                                       // GET: wrong length, still framed
            Bulk(value));                                            // GET: right again
        foreach (int piece in new[] { 1, 7, 4096, replies.Length })
        {
            ILoadSession session = scenario.CreateSession(0);
            for (int i = 0; i < 7; i++)
            {
                session.WriteRequest(request);
            }
            int completed = 0;
            int mismatched = 0;
            for (int at = 0; at < replies.Length; at += piece)
            {
                ResponseProgress p = session.ReadResponses(replies.AsSpan(at, Math.Min(piece, replies.Length - at)));
                Assert.False(p.Broken, $"piece {piece} at {at}");
                completed += p.Completed;
                mismatched += p.Mismatched;
            }
            Assert.Equal((7, 4), (completed, mismatched));
            // Nothing more was asked for.
            Assert.True(session.ReadResponses("+OK\r\n"u8).Broken);
        }
    }

    [Theory]
    [InlineData("*1\r\n$4\r\nPONG\r\n")]   // an array: no command here answers with one
    [InlineData("$4x\r\nPONG\r\n")]        // a length that is not digits
    [InlineData("$4\r\nPONGxx")]           // bytes where the bulk's CRLF belongs
    [InlineData("+PONG\rx\r\n")]           // a bare CR
    [InlineData("+PONG\n")]                // LF without CR
    [InlineData("?\r\n")]                  // no such type
    public void RespRepliesThatCannotBeFramedBreakTheStream(string reply)
    {
        ILoadSession session = new RespScenario(RespCommand.Ping).CreateSession(0);
        session.WriteRequest(new byte[64]);
        session.WriteRequest(new byte[64]);
        Assert.True(session.ReadResponses(Encoding.ASCII.GetBytes(reply)).Broken);
    }

    [Fact]
    public void RespIntegerAndPongForSetAreMismatches()
    {
        var scenario = new RespScenario(RespCommand.Set, valueSize: 3);
        ILoadSession session = scenario.CreateSession(0);
        byte[] request = new byte[scenario.MaxRequestSize];
        for (int i = 0; i < 3; i++)
        {
            session.WriteRequest(request);
        }
        Assert.Equal(new ResponseProgress(3, 2), session.ReadResponses(":1\r\n+PONG\r\n+OK\r\n"u8));
    }

    [Fact]
    public void HttpBodiesAreCheckedByteForByteWhenExpected()
    {
        var scenario = new HttpScenario("/plaintext", "h", "Hello, World!"u8.ToArray());
        byte[] replies = Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!" +
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!" +     // one byte differs
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello" +              // shorter
            "HTTP/1.1 200 OK\r\nContent-Length:\t13 \r\n\r\nHello, World!");   // OWS with a tab
        foreach (int piece in new[] { 1, 3, replies.Length })
        {
            ILoadSession session = scenario.CreateSession(0);
            for (int i = 0; i < 4; i++)
            {
                session.WriteRequest(new byte[scenario.MaxRequestSize]);
            }
            int completed = 0;
            int mismatched = 0;
            for (int at = 0; at < replies.Length; at += piece)
            {
                ResponseProgress p = session.ReadResponses(replies.AsSpan(at, Math.Min(piece, replies.Length - at)));
                Assert.False(p.Broken);
                completed += p.Completed;
                mismatched += p.Mismatched;
            }
            Assert.Equal((4, 2), (completed, mismatched));
        }
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", true)]   // two lengths that disagree
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false)]  // the same twice
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", true)]                       // a sign
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", true)]                     // a list
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", true)]        // overflow
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nX-Content-Length: 3\r\n\r\n", true)]                         // no Content-Length at all
    [InlineData("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", true)]                          // a four-digit status
    [InlineData("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false)]  // interim head skipped
    [InlineData("HTTP/1.1 204 No Content\r\n\r\n", false)]                                       // no body by definition
    public void HttpContentLengthIsParsedStrictly(string response, bool broken)
    {
        ILoadSession session = new HttpScenario("/", "h").CreateSession(0);
        session.WriteRequest(new byte[64]);
        ResponseProgress progress = session.ReadResponses(Encoding.ASCII.GetBytes(response));
        Assert.Equal(broken, progress.Broken);
        if (!broken)
        {
            Assert.Equal(1, progress.Completed);
        }
    }

    [Fact]
    public async Task HttpExpectBodyFlagChecksEveryPipelinedResponse()
    {
        using var loop = new EventLoop();
        SocketServer server = loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), new HelloHandler());
        Task running = loop.RunAsync();
        try
        {
            string port = ((IPEndPoint)server.LocalEndPoint).Port.ToString();
            string[] common = ["--port", port, "-c", "2", "--depth", "16", "--duration", "0.3", "--warmup", "0", "--scenario", "http", "--quiet"];
            (int exitCode, string stdout, string stderr) = await Run([.. common, "--expect-body", "Hello, World!"]);
            Assert.True(exitCode == 0, stdout + stderr);

            (exitCode, stdout, _) = await Run([.. common, "--expect-body", "Hello, World?"]);
            Assert.Equal(1, exitCode);
            Assert.DoesNotContain("mismatches=0", stdout);
        }
        finally
        {
            loop.DisposeWithServer(running, server);
        }
    }

    private static byte[] Bulk(byte[] value) => Concat(Encoding.ASCII.GetBytes($"${value.Length}\r\n"), value, "\r\n"u8.ToArray());

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>Answers each request head with "Hello, World!", in order, one write per read.</summary>
    private sealed class HelloHandler : IStreamHandler
    {
        private readonly Dictionary<long, int> _matched = [];

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
            int matched = _matched.GetValueOrDefault(connection.Id);
            int responses = 0;
            foreach (byte b in data)
            {
                matched = b == (matched % 2 == 0 ? (byte)'\r' : (byte)'\n') ? matched + 1 : (b == '\r' ? 1 : 0);
                if (matched == 4)
                {
                    matched = 0;
                    responses++;
                }
            }
            _matched[connection.Id] = matched;
            byte[] one = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"u8.ToArray();
            connection.Write([.. Enumerable.Repeat(one, responses).SelectMany(r => r)]);
        }

        public void OnClosed(StreamConnection connection, Exception? error) => _matched.Remove(connection.Id);
    }
}
