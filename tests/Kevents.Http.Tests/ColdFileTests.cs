using System.Net.Sockets;
using System.Text;
using Kevents.Native;

namespace Kevents.Http.Tests;

/// <summary>
/// File bodies not in the page cache (<see cref="HttpServerOptions.ColdFiles"/>): read into the cache by a threadlet
/// while the loop serves other connections, then sent with sendfile, byte for byte the same as inline. A cache miss
/// is made deterministic by injecting "not cached" into the probe (mincore) and holding the cache-miss thread.
/// </summary>
public sealed class ColdFileTests : HttpTest
{
    private const int FileSize = 5 * 1024 * 1024 + 123; // three trips of the cold window, the last one short

    private readonly string _path = Path.Combine(Path.GetTempPath(), $"kevents-cold-{Guid.NewGuid():N}.bin");
    private readonly byte[] _content = new byte[FileSize];

    public ColdFileTests()
    {
        new Random(12).NextBytes(_content);
        File.WriteAllBytes(_path, _content);
    }

    /// <summary>/file?start=S&amp;count=C sends that range of the test file; /hot answers from memory.</summary>
    private ValueTask Handle(HttpRequest request, HttpResponse response)
    {
        string target = request.Target;
        if (target == "/hot")
        {
            response.Write("hot\n");
            return default;
        }
        long start = 0;
        long count = FileSize;
        int query = target.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            foreach (string pair in target[(query + 1)..].Split('&'))
            {
                string[] kv = pair.Split('=');
                if (kv[0] == "start") start = long.Parse(kv[1]);
                if (kv[0] == "count") count = long.Parse(kv[1]);
            }
        }
        int rc = FileDescriptor.Open(_path, FileOpenFlags.ReadOnly, out FileDescriptor? file);
        Assert.True(rc >= 0, $"open failed: {rc}");
        response.SendFile(file!, start, count);
        return default;
    }

    private static IDisposable ForceColdProbes() =>
        FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileCacheProbe, Errno.EAGAIN, probability: 1.0));

    [Fact]
    public async Task LoopKeepsServingOtherConnectionsWhileAColdBodyIsRead()
    {
        StartServer(handler: Handle);
        using var entered = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        Server.BeforeColdRead = () =>
        {
            entered.Release();
            release.Wait(Limit); // the "disk": held until the test has been served by the loop meanwhile
        };
        try
        {
            using IDisposable faults = ForceColdProbes();
            using Socket cold = await ConnectAsync();
            await cold.SendAsync(Encoding.Latin1.GetBytes("GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            Task<byte[]> download = ReceiveToEndAsync(cold);
            Assert.True(await entered.WaitAsync(Limit), "the cold body never went to a cache-miss thread");

            // The cache-miss thread is stuck on the "disk"; the loop must still answer another connection, three times.
            using Socket hot = await ConnectAsync();
            for (int i = 0; i < 3; i++)
            {
                await hot.SendAsync(Encoding.Latin1.GetBytes("GET /hot HTTP/1.1\r\nHost: x\r\n\r\n"));
                string answer = await ReceiveUntilAsync(hot, "hot\n");
                Assert.StartsWith("HTTP/1.1 200", answer);
            }
            Assert.False(download.IsCompleted, "the cold download finished while its read was held");

            release.Set();
            byte[] response = await download;
            AssertBody(response, 0, FileSize);
            Assert.True(await OnLoop(() => Server.ColdFileReads) >= 3, "each 2 MiB window of a cold file is read by a threadlet");
        }
        finally
        {
            release.Set();
        }
    }

    [Theory]
    [InlineData(ColdFileMode.Threadlet, 0, FileSize)]
    [InlineData(ColdFileMode.Inline, 0, FileSize)]
    [InlineData(ColdFileMode.Threadlet, 1, 3 * 1024 * 1024 + 5)]
    [InlineData(ColdFileMode.Inline, 1, 3 * 1024 * 1024 + 5)]
    [InlineData(ColdFileMode.Threadlet, 4095, 1)]
    [InlineData(ColdFileMode.Threadlet, FileSize - 10, 10)]
    public async Task ColdBodiesAndRangesAreByteIdenticalEitherWay(ColdFileMode mode, long start, long count)
    {
        StartServer(options => options.ColdFiles = mode, Handle);
        byte[] response;
        using (ForceColdProbes())
        {
            response = await RawExchangeAsync($"GET /file?start={start}&count={count} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }
        AssertBody(response, start, count);
        long coldReads = await OnLoop(() => Server.ColdFileReads);
        if (mode == ColdFileMode.Inline)
        {
            Assert.Equal(0, coldReads);
        }
        else
        {
            // One trip per cold window (2 MiB), at least; a short socket buffer may ask again after a partial send.
            Assert.True(coldReads >= (count + HttpConnectionWindow - 1) / HttpConnectionWindow, $"{coldReads} cold reads for {count} bytes");
        }
    }

    [Fact]
    public async Task PipelinedColdBodiesFollowEachOtherIntact()
    {
        StartServer(handler: Handle);
        byte[] response;
        using (ForceColdProbes())
        {
            response = await RawExchangeAsync(
                "GET /file?start=0&count=3000000 HTTP/1.1\r\nHost: x\r\n\r\n" +
                "GET /file?start=10&count=2500000 HTTP/1.1\r\nHost: x\r\n\r\n" +
                "GET /file?start=4095&count=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }
        int at = 0;
        foreach ((long start, long count) in new[] { (0L, 3_000_000L), (10L, 2_500_000L), (4095L, 2L) })
        {
            int bodyAt = response.AsSpan(at).IndexOf("\r\n\r\n"u8) + 4 + at;
            Assert.Equal(200, StatusOf(response[at..]));
            Assert.True(_content.AsSpan((int)start, (int)count).SequenceEqual(response.AsSpan(bodyAt, (int)count)), $"body at {start} differs");
            at = bodyAt + (int)count;
        }
        Assert.Equal(response.Length, at);
    }

    [Fact]
    public async Task CachedBodyIsSentInlineWithoutAThread()
    {
        StartServer(handler: Handle);
        // Written just now, so cached: the probe answers yes and no threadlet is involved.
        byte[] response = await RawExchangeAsync("GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        AssertBody(response, 0, FileSize);
        Assert.Equal(0, await OnLoop(() => Server.ColdFileReads));
    }

    [Fact]
    public async Task BodyEvictedFromThePageCacheGoesThroughAThreadlet()
    {
        if (!Evict(_path))
        {
            return; // This file system keeps the pages (tmpfs): the injected probes above cover the path instead.
        }
        StartServer(handler: Handle);
        byte[] response = await RawExchangeAsync("GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        AssertBody(response, 0, FileSize);
        Assert.True(await OnLoop(() => Server.ColdFileReads) >= 1, "an evicted file was sent without a cold read");
    }

    [Fact]
    public async Task DownloadAbortedDuringAColdReadLeaksNothing()
    {
        StartServer(handler: Handle);
        using var entered = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        Server.BeforeColdRead = () =>
        {
            entered.Release();
            release.Wait(Limit);
        };
        try
        {
            using (ForceColdProbes())
            {
                using Socket cold = await ConnectAsync();
                await cold.SendAsync(Encoding.Latin1.GetBytes("GET /file HTTP/1.1\r\nHost: x\r\n\r\n"));
                Assert.True(await entered.WaitAsync(Limit), "the cold body never went to a cache-miss thread");
                cold.LingerState = new LingerOption(true, 0); // a reset: the client gives up mid-download
                cold.Close();
                await WaitUntilAsync(() => Server.ConnectionCount == 0, "the aborted connection is closed");
            }
            Assert.Equal(1, await OnLoop(() => Server.AbortedResponses));
            release.Set(); // the thread now reads a disposed file (EBADF) and its completion finds the connection gone

            // The connection's file is closed and a new request is served as usual; the leak gate checks the fds.
            byte[] after = await RawExchangeAsync("GET /hot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, StatusOf(after));
        }
        finally
        {
            release.Set();
        }
    }

    private const long HttpConnectionWindow = HttpConnection.ColdWindow;

    private void AssertBody(byte[] response, long start, long count)
    {
        Assert.Equal(200, StatusOf(response));
        int bodyAt = response.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        Assert.True(bodyAt >= 4, "no head");
        Assert.Equal(count, response.Length - bodyAt);
        Assert.True(_content.AsSpan((int)start, (int)count).SequenceEqual(response.AsSpan(bodyAt)), "the body differs from the file");
    }

    private static bool Evict(string path)
    {
        int rc = FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file);
        Assert.True(rc >= 0);
        using (file)
        {
            NativeFile.DropCache(file!.Fd);
            return file.CachedPages(0, FileSize) == 0;
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        File.Delete(_path);
    }
}
