using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks.Sources;
using Kevents.Http;

namespace Kevents.Http.Tests;

/// <summary>
/// Pipelined requests that arrive in one write, where some answers are not ready when the read is handled: a handler
/// that completes later (on the loop's queue, after a thread-pool hop, after a delay, from a loop.Post) or a file body
/// that is sent after the head. Whatever the mix, every buffered request must be answered, in order, without a further
/// readable event: the client has sent everything and only waits.
/// </summary>
public sealed partial class PipelineResumeTests : HttpTest
{
    private static readonly string[] s_completions = ["inline", "yield", "pool", "delay", "post", "race"];
    private static readonly string[] s_bodies = ["text", "file", "head"];

    private readonly string _filePath;

    public PipelineResumeTests()
    {
        _filePath = Path.Combine(Path.GetTempPath(), $"kevents-pipeline-{Guid.NewGuid():N}.bin");
        File.WriteAllText(_filePath, "file body\n");
        StartServer(handler: Handle);
    }

    private enum Ending
    {
        ConnectionClose, // the last request asks to close
        KeepAlive,       // the client reads the answers and closes
        HalfClose,       // the client's FIN follows the requests at once
    }

    [Theory]
    // A file body on the first request: the rest of the read must be handled once the file is out.
    [InlineData("inline/file", "inline/text")]
    [InlineData("inline/file", "inline/head")]
    // An awaited handler whose answer is a file body.
    [InlineData("yield/file", "inline/text")]
    [InlineData("pool/file", "inline/text")]
    [InlineData("delay/file", "post/file")]
    // An awaited handler in the middle.
    [InlineData("inline/text", "delay/text")]
    [InlineData("inline/text", "pool/file")]
    public async Task BufferedRequestsAreAnsweredAfterAFileOrAnAwaitedHandler(string first, string rest)
    {
        string[] kinds = [first, rest, "inline/text", rest];
        foreach (Ending ending in Enum.GetValues<Ending>())
        {
            await ExchangeAsync(kinds, ending);
        }
    }

    [Theory]
    [InlineData("inline/text", "race/text")] // parsed from the read
    [InlineData("yield/text", "race/text")]  // parsed from the buffer, after the first handler's completion
    [InlineData("inline/file", "race/text")] // parsed from the buffer, after the file
    [InlineData("yield/text", "race/file")]
    public async Task HandlerCompletingBetweenTheCheckAndTheAwaitIsAnsweredOnce(string first, string racing)
    {
        foreach (Ending ending in Enum.GetValues<Ending>())
        {
            await ExchangeAsync([first, racing, "inline/text", "inline/text"], ending);
        }
    }

    [Fact]
    public async Task EveryMixOfCompletionsAndBodiesIsAnswered()
    {
        // Every (completion, body) kind in every position of a four-request pipeline, in random mixes, bounded in time;
        // a seed per run, printed on failure.
        string[] kinds = [.. s_completions.SelectMany(c => s_bodies.Select(b => $"{c}/{b}"))];
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int rounds = 0;
        while (rounds < 400 && (rounds < 30 || clock.Elapsed < TimeSpan.FromSeconds(3)))
        {
            string[] pipeline = [.. Enumerable.Range(0, 4).Select(_ => kinds[random.Next(kinds.Length)])];
            var ending = (Ending)random.Next(3);
            try
            {
                await ExchangeAsync(pipeline, ending);
            }
            catch (Exception ex)
            {
                throw new Xunit.Sdk.XunitException($"seed {seed}, round {rounds}: {string.Join(' ', pipeline)} {ending}: {ex.Message}");
            }
            rounds++;
        }
    }

    private async Task ExchangeAsync(string[] kinds, Ending ending)
    {
        var request = new StringBuilder();
        for (int i = 0; i < kinds.Length; i++)
        {
            string method = kinds[i].EndsWith("/head", StringComparison.Ordinal) ? "HEAD" : "GET";
            request.Append(method).Append(" /").Append(kinds[i]).Append('/').Append(i).Append(" HTTP/1.1\r\nHost: x\r\n");
            if (i == kinds.Length - 1 && ending == Ending.ConnectionClose)
            {
                request.Append("Connection: close\r\n");
            }
            request.Append("\r\n");
        }
        using Socket socket = await ConnectAsync();
        socket.NoDelay = true;
        await socket.SendAsync(Encoding.ASCII.GetBytes(request.ToString()));
        string response;
        if (ending == Ending.KeepAlive)
        {
            response = await ReceiveUntilAsync(socket, "\r\nX-Seq: ", kinds.Length);
            // The last head arrived; its body follows (in the same send or by sendfile).
            response = await CompleteLastBodyAsync(socket, response, kinds[^1], kinds.Length - 1);
        }
        else
        {
            if (ending == Ending.HalfClose)
            {
                socket.Shutdown(SocketShutdown.Send);
            }
            response = Encoding.Latin1.GetString(await ReceiveToEndAsync(socket));
        }
        string[] order = [.. SeqPattern().Matches(response).Select(m => m.Groups[1].Value)];
        Assert.True(order.SequenceEqual(Enumerable.Range(0, kinds.Length).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))),
            $"{string.Join(' ', kinds)} {ending}: answers {string.Join(',', order)}\n{response}");
        Assert.Equal(kinds.Length, CountOf(response, "HTTP/1.1 200 OK"));
    }

    private static async Task<string> CompleteLastBodyAsync(Socket socket, string response, string lastKind, int seq)
    {
        string expected = lastKind.EndsWith("/file", StringComparison.Ordinal) ? "file body\n"
            : lastKind.EndsWith("/text", StringComparison.Ordinal) ? $"text {seq}\n" : "";
        byte[] buffer = new byte[4096];
        while (!response.EndsWith("\r\n\r\n" + expected, StringComparison.Ordinal))
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            Assert.True(n > 0, $"closed after: {response}");
            response += Encoding.Latin1.GetString(buffer, 0, n);
        }
        return response;
    }

    /// <summary>/{completion}/{body}/{seq}: answers after the completion, with a text, file or HEAD body.</summary>
    private ValueTask Handle(HttpRequest request, HttpResponse response)
    {
        string[] parts = request.Target.Split('/');
        string completion = parts[1], body = parts[2], seq = parts[3];
        switch (completion)
        {
            case "inline":
                Answer(response, body, seq);
                return default;
            case "yield":
                return YieldAsync(response, body, seq);
            case "pool":
                return PoolAsync(response, body, seq);
            case "delay":
                return DelayAsync(response, body, seq);
            case "race":
                // Pending when the layer looks, complete when it awaits: what a handler completed by another thread
                // at that very moment looks like. The layer's continuation then runs inline, inside its parse loop.
                Answer(response, body, seq);
                return new ValueTask(new CompletesOnSecondLook(), 0);
            default:
                return PostAsync(response, body, seq);
        }
    }

    private async ValueTask YieldAsync(HttpResponse response, string body, string seq)
    {
        await Task.Yield(); // the loop's queue
        Answer(response, body, seq);
    }

    private async ValueTask PoolAsync(HttpResponse response, string body, string seq)
    {
        await Task.Run(() => Thread.SpinWait(100)); // a thread-pool hop, then back to the loop
        Answer(response, body, seq);
    }

    private async ValueTask DelayAsync(HttpResponse response, string body, string seq)
    {
        await Task.Delay(Random.Shared.Next(1, 10)); // after the rest of the read was buffered
        Answer(response, body, seq);
    }

    private ValueTask PostAsync(HttpResponse response, string body, string seq)
    {
        // Completed from a posted work item, with the handler's continuation run inline there.
        var done = new TaskCompletionSource();
        Loop.Post(() =>
        {
            Answer(response, body, seq);
            done.SetResult();
        });
        return new ValueTask(done.Task);
    }

    private void Answer(HttpResponse response, string body, string seq)
    {
        response.AddHeader("X-Seq", seq);
        if (body == "file")
        {
            int rc = FileDescriptor.Open(_filePath, FileOpenFlags.ReadOnly, out FileDescriptor? file);
            Assert.True(rc >= 0, $"open failed: {rc}");
            file!.Stat(out FileStatus status);
            response.SendFile(file, 0, status.Length);
        }
        else
        {
            response.Write($"text {seq}\n");
        }
    }

    /// <summary>A completed-successfully source that says Pending the first time it is asked.</summary>
    private sealed class CompletesOnSecondLook : IValueTaskSource
    {
        private int _looks;

        public ValueTaskSourceStatus GetStatus(short token) =>
            ++_looks == 1 ? ValueTaskSourceStatus.Pending : ValueTaskSourceStatus.Succeeded;

        public void GetResult(short token)
        {
        }

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            ThreadPool.QueueUserWorkItem(continuation, state, preferLocal: false);
    }

    [GeneratedRegex(@"\r\nX-Seq: (\d+)\r\n")]
    private static partial Regex SeqPattern();

    public override void Dispose()
    {
        base.Dispose();
        File.Delete(_filePath);
    }
}
