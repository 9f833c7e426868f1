using System.Net;
using System.Net.Http.Headers;

namespace Kevents.FileServer.Tests;

/// <summary>The server as a real client sees it: HttpClient over loopback.</summary>
public sealed class HttpClientTests : FileServerTest
{
    public HttpClientTests() => StartServer();

    [Theory]
    [InlineData("hello.txt", "text/plain; charset=utf-8")]
    [InlineData("page.html", "text/html; charset=utf-8")]
    [InlineData("data.json", "application/json")]
    [InlineData("one-k.bin", "application/octet-stream")]
    [InlineData("sixty-four-k.bin", "application/octet-stream")]
    [InlineData("one-m.bin", "application/octet-stream")]
    [InlineData("five-m.bin", "application/octet-stream")]
    [InlineData("empty.txt", "text/plain; charset=utf-8")]
    [InlineData("sub/name%20with%20space.txt", "text/plain; charset=utf-8")]
    public async Task ServesFilesByteExact(string path, string contentType)
    {
        using HttpClient client = NewClient();
        using HttpResponseMessage response = await client.GetAsync(new Uri(BaseUri, path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(Site.Files[Uri.UnescapeDataString(path)], body);
        Assert.Equal(contentType, response.Content.Headers.ContentType?.ToString());
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task DirectoryServesItsIndexAndOneWithoutIndexIsForbidden()
    {
        using HttpClient client = NewClient();
        Assert.Equal(Site.Files["sub/index.html"], await client.GetByteArrayAsync(new Uri(BaseUri, "sub/")));
        using HttpResponseMessage empty = await client.GetAsync(new Uri(BaseUri, "emptydir/"));
        Assert.Equal(HttpStatusCode.Forbidden, empty.StatusCode);
    }

    [Fact]
    public async Task HeadSendsHeadersWithoutBody()
    {
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Head, new Uri(BaseUri, "one-m.bin"));
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1024 * 1024, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        // The connection stays usable: a HEAD body would desynchronise the next response.
        Assert.Equal(Site.Files["hello.txt"], await client.GetByteArrayAsync(new Uri(BaseUri, "hello.txt")));
    }

    [Fact]
    public async Task MissingFileIs404()
    {
        using HttpClient client = NewClient();
        using HttpResponseMessage response = await client.GetAsync(new Uri(BaseUri, "no/such/file.txt"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task OtherMethodsAre405WithAllow()
    {
        using HttpClient client = NewClient();
        using HttpResponseMessage response = await client.PostAsync(new Uri(BaseUri, "hello.txt"), new ByteArrayContent("x"u8.ToArray()));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(["GET", "HEAD"], response.Content.Headers.Allow);
        using var delete = new HttpRequestMessage(HttpMethod.Delete, new Uri(BaseUri, "hello.txt"));
        using HttpResponseMessage deleted = await client.SendAsync(delete);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, deleted.StatusCode);
    }

    [Theory]
    [InlineData(10L, 19L, 10L, 10L)]     // bytes=10-19
    [InlineData(1000L, null, 1000L, 5L * 1024 * 1024 - 1000)] // bytes=1000-
    [InlineData(0L, 0L, 0L, 1L)]         // first byte only
    [InlineData(5L * 1024 * 1024 - 3, 99_999_999L, 5L * 1024 * 1024 - 3, 3L)] // end clipped to the file
    public async Task RangeReturns206WithContentRange(long from, long? to, long start, long count)
    {
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "five-m.bin"));
        request.Headers.Range = new RangeHeaderValue(from, to);
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        byte[] body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(Site.Files["five-m.bin"].AsSpan((int)start, (int)count).ToArray(), body);
        ContentRangeHeaderValue range = response.Content.Headers.ContentRange!;
        Assert.Equal(start, range.From);
        Assert.Equal(start + count - 1, range.To);
        Assert.Equal(5L * 1024 * 1024, range.Length);
    }

    [Fact]
    public async Task SuffixRangeReturnsTheLastBytes()
    {
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "one-k.bin"));
        request.Headers.Range = new RangeHeaderValue(null, 100);
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(Site.Files["one-k.bin"][^100..], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("bytes 924-1023/1024", response.Content.Headers.ContentRange!.ToString());

        using var whole = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "hello.txt"));
        whole.Headers.Range = new RangeHeaderValue(null, 1000);
        using HttpResponseMessage wholeResponse = await client.SendAsync(whole);
        Assert.Equal(HttpStatusCode.PartialContent, wholeResponse.StatusCode);
        Assert.Equal(Site.Files["hello.txt"], await wholeResponse.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task UnsatisfiableRangeIs416()
    {
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "one-k.bin"));
        request.Headers.Range = new RangeHeaderValue(1024, null);
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("bytes */1024", response.Content.Headers.ContentRange!.ToString());
    }

    [Fact]
    public async Task KeepAliveServesManyRequestsOnOneConnection()
    {
        using HttpClient client = NewClient(maxConnections: 1);
        for (int i = 0; i < 20; i++)
        {
            string name = (i % 3) switch { 0 => "hello.txt", 1 => "one-k.bin", _ => "one-m.bin" };
            Assert.Equal(Site.Files[name], await client.GetByteArrayAsync(new Uri(BaseUri, name)));
        }
        Assert.Equal(1, await OnLoop(() => Server.TotalAccepted));
    }

    [Fact]
    public async Task HundredConcurrentDownloadsAreByteExact()
    {
        using HttpClient client = NewClient(maxConnections: 100);
        string[] names = ["one-m.bin", "five-m.bin", "sixty-four-k.bin", "one-k.bin"];
        Task<bool>[] downloads = Enumerable.Range(0, 100).Select(async i =>
        {
            string name = names[i % names.Length];
            byte[] body = await client.GetByteArrayAsync(new Uri(BaseUri, name));
            return body.AsSpan().SequenceEqual(Site.Files[name]);
        }).ToArray();
        bool[] results = await Task.WhenAll(downloads).WaitAsync(Limit);
        Assert.All(results, Assert.True);
        Assert.Equal(100, await OnLoop(() => Server.Stats.Success));
    }
}
