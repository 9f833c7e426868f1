using System.Net;
using global::FileServer;
using System.Net.Http.Headers;
using Kevents.Http;
using Kevents.Native;

namespace Kevents.FileServer.Tests;

/// <summary>
/// Bodies not in the page cache: with <c>--cold-files threadlet</c> (the default) a threadlet reads them into the cache
/// before the loop sends them; with <c>inline</c> the loop sends them as they are. Whole files and ranges come out
/// byte for byte the same either way. Misses are injected into the cache probe, so the result does not depend on
/// what the machine's page cache holds.
/// </summary>
public sealed class ColdFileTests : FileServerTest
{
    [Theory]
    [InlineData(ColdFileMode.Threadlet, "five-m.bin", null, null)]
    [InlineData(ColdFileMode.Inline, "five-m.bin", null, null)]
    [InlineData(ColdFileMode.Threadlet, "five-m.bin", 3_000_000L, 4_500_000L)]
    [InlineData(ColdFileMode.Inline, "five-m.bin", 3_000_000L, 4_500_000L)]
    [InlineData(ColdFileMode.Threadlet, "one-m.bin", 1L, 1L)]
    [InlineData(ColdFileMode.Threadlet, "sixty-four-k.bin", null, null)]
    public async Task ColdFilesAndRangesAreServedByteIdenticalEitherWay(ColdFileMode mode, string name, long? from, long? to)
    {
        StartServer(o => o.ColdFiles = mode);
        byte[] expected = Site.Files[name];
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, name));
        if (from is not null)
        {
            request.Headers.Range = new RangeHeaderValue(from, to);
            expected = expected[(int)from.Value..(int)(to!.Value + 1)];
        }
        // A small file is first tried with a non-blocking read into the head's buffer: make that miss as well.
        using (FaultInjection.Arm(new FaultPlan()
            .Fail(FaultSite.FileCacheProbe, Errno.EAGAIN, probability: 1.0)
            .Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1.0)))
        {
            using HttpResponseMessage response = await client.SendAsync(request).WaitAsync(Limit);
            Assert.Equal(from is null ? HttpStatusCode.OK : HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync());
        }
        long coldReads = await OnLoop(() => Server.Http!.ColdFileReads);
        if (mode == ColdFileMode.Inline)
        {
            Assert.Equal(0, coldReads);
        }
        else
        {
            Assert.True(coldReads >= 1, "a cold body was sent without a threadlet reading it first");
        }
    }

    [Fact]
    public void ThreadletIsTheDefault() => Assert.Equal(ColdFileMode.Threadlet, new FileServerOptions().ColdFiles);
}
