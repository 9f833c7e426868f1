using System.Net;
using System.Net.Sockets;
using System.Text;
using FileServer;
using Kevents.Native;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kevents.FileServer.Tests;

/// <summary>Deep pipelines, bare CRs, HTTP/1.0 keep-alive, the summary's error classes, and the root after dispose.</summary>
public sealed class EdgeTests : FileServerTest
{
    [Fact]
    public async Task DeepPipelineIsParsedInPlaceAndAnsweredInBoundedTurns()
    {
        StartServer();
        const int count = 3000;
        int sent = await ExchangePipelineAsync("HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", count);

        (long moved, int most, int limit) = await OnLoop(() => (Server.Stats.InputBytesMoved, Server.Stats.MostRequestsInOneTurn, Server.Options.MaxRequestsPerTurn));
        // Moving the rest of the buffer for each request moves far more than was sent (quadratic); in place, only
        // a partial request at the end of a read is ever moved.
        Assert.True(moved <= sent, $"{moved} input bytes moved for {sent} received");
        Assert.InRange(most, 1, limit);
        Assert.Equal(count, await OnLoop(() => Server.Stats.Success));
    }

    [Fact]
    public async Task HalfClosedDeepPipelineIsStillAnsweredInFull()
    {
        // The client sends a pipeline longer than one turn's share and shuts down its side at once: the requests
        // waiting for the next turn must still be answered before the server closes.
        StartServer();
        const int count = 200;
        var pipeline = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            pipeline.Append("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        using Socket socket = await ConnectAsync();
        await socket.SendAsync(Encoding.Latin1.GetBytes(pipeline.ToString()));
        socket.Shutdown(SocketShutdown.Send);
        string all = Encoding.Latin1.GetString(await ReceiveToEndAsync(socket));
        Assert.Equal(count, all.Split("hello, world\n").Length - 1);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\rHost: x\r\r")]
    [InlineData("GET /hello.txt HTTP/1.1\r\nHost: x\rX: y")]
    [InlineData("\rGET / HTTP/1.1\r\n")]
    public async Task HeadWithABareCrIsRefusedAtOnce(string request)
    {
        // The default 30 s header timeout: an answer within the test's limit can only be the parser's.
        StartServer();
        byte[] response = await RawExchangeAsync(request);
        Assert.Equal(400, StatusOf(response));
    }

    [Fact]
    public async Task Http10KeepAliveIsSaidInTheResponse()
    {
        StartServer();
        using Socket socket = await ConnectAsync();
        await socket.SendAsync("GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"u8.ToArray());
        string first = await ReceiveResponseAsync(socket, "hello, world\n");
        Assert.Contains("\r\nConnection: keep-alive\r\n", first);
        // Error answers that keep the connection say it too.
        await socket.SendAsync("GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"u8.ToArray());
        string second = await ReceiveResponseAsync(socket, "Not Found\n");
        Assert.StartsWith("HTTP/1.1 404 ", second);
        Assert.Contains("\r\nConnection: keep-alive\r\n", second);
        // HTTP/1.1 keeps alive by default and does not need to say it.
        await socket.SendAsync("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        Assert.DoesNotContain("Connection:", await ReceiveResponseAsync(socket, "hello, world\n"));
    }

    [Fact]
    public async Task MalformedRequestsAnswered501Or505AreClientErrorsInTheSummary()
    {
        StartServer();
        Assert.Equal(505, StatusOf(await RawExchangeAsync("GET / HTTP/2.0\r\nHost: x\r\n\r\n")));
        Assert.Equal(501, StatusOf(await RawExchangeAsync("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")));
        (long client, long server) = await OnLoop(() => (Server.Stats.ClientErrors, Server.Stats.ServerErrors));
        Assert.Equal((2L, 0L), (client, server));
    }

    [Fact]
    public async Task OpenOnACacheMissThreadAfterDisposeNeverUsesTheRootsOldNumber()
    {
        // A second directory with a hello.txt of its own: if the open resolved against the root's old number after
        // that number was given to this directory, it would open the wrong file.
        string other = Directory.CreateTempSubdirectory("kevents-other-").FullName;
        File.WriteAllText(Path.Combine(other, "hello.txt"), "not the site\n");
        var options = new FileServerOptions { Root = Site.Root };
        StaticFileServer server = await OnLoop(() => StaticFileServer.Start(Loop, new IPEndPoint(IPAddress.Loopback, 0), options, NullLogger.Instance));
        int rootFd = await OnLoop(() => OpenFdNumberOfRoot());
        using var entered = new ManualResetEventSlim();
        using var proceed = new ManualResetEventSlim();
        var held = new List<FileDescriptor>();
        try
        {
            server.ForceCacheMiss = true;
            server.BeforeBlockingOpen = () =>
            {
                entered.Set();
                proceed.Wait(Limit);
            };
            Task<OpenedFile> opening = (await OnLoop(() => server.OpenAsync("hello.txt").AsTask()));
            Assert.True(entered.Wait(Limit), "the open never reached the cache-miss thread");
            await OnLoop(() =>
            {
                server.Dispose();
                return true;
            });
            // Take descriptor numbers until the root's old one comes back, now naming the other directory.
            for (int i = 0; i < 1000; i++)
            {
                Assert.Equal(0, NativeFile.Open(other, FileOpenFlags.Directory, default, cachedOnly: false, out FileDescriptor? dir));
                held.Add(dir!);
                if (dir!.Fd >= rootFd)
                {
                    break;
                }
            }
            Assert.Contains(held, d => d.Fd == rootFd);
            proceed.Set();
            OpenedFile opened = await opening.WaitAsync(Limit);
            opened.File?.Dispose();
            Assert.True(opened.Errno < 0, "the open succeeded against a descriptor number the server had given up");
        }
        finally
        {
            proceed.Set();
            held.ForEach(d => d.Dispose());
            Directory.Delete(other, recursive: true);
        }

        // The root as the server sees it: the lowest descriptor open on the site directory.
        int OpenFdNumberOfRoot()
        {
            foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd").OrderBy(e => int.Parse(Path.GetFileName(e))))
            {
                try
                {
                    if (new FileInfo(entry).LinkTarget == Site.Root)
                    {
                        return int.Parse(Path.GetFileName(entry));
                    }
                }
                catch (IOException)
                {
                }
            }
            throw new InvalidOperationException("the root is not open");
        }
    }

    /// <summary>Reads one response whose body ends with <paramref name="bodyEnd"/>; returns it as text.</summary>
    private static async Task<string> ReceiveResponseAsync(Socket socket, string bodyEnd)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[4096];
        while (!text.ToString().EndsWith(bodyEnd, StringComparison.Ordinal))
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            Assert.True(n > 0, $"closed after: {text}");
            text.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }
        return text.ToString();
    }
}
