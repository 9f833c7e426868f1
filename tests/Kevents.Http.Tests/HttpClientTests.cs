using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Kevents.Http.Tests;

/// <summary>HttpClient, a client nobody here wrote, against the in-process server: keep-alive, concurrency, bodies.</summary>
public sealed class HttpClientTests : HttpTest
{
    public HttpClientTests() => StartServer();

    [Fact]
    public async Task PlaintextAndJsonFollowTheBenchmarkRules()
    {
        using HttpClient client = NewClient();
        using HttpResponseMessage plain = await client.GetAsync(new Uri(BaseUri, "plaintext"));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal("Hello, World!", await plain.Content.ReadAsStringAsync());
        Assert.Equal("text/plain", plain.Content.Headers.ContentType?.MediaType);
        Assert.Equal(13, plain.Content.Headers.ContentLength);
        Assert.Equal("Kevents", plain.Headers.Server.ToString());
        Assert.NotNull(plain.Headers.Date);
        Assert.InRange(plain.Headers.Date!.Value, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));

        using HttpResponseMessage json = await client.GetAsync(new Uri(BaseUri, "json"));
        Assert.Equal("{\"message\":\"Hello, World!\"}", await json.Content.ReadAsStringAsync());
        Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);

        using HttpResponseMessage page = await client.GetAsync(BaseUri);
        Assert.Contains("/plaintext", await page.Content.ReadAsStringAsync());
        using HttpResponseMessage missing = await client.GetAsync(new Uri(BaseUri, "nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task KeepAliveServesManyRequestsOnOneConnection()
    {
        using HttpClient client = NewClient(maxConnections: 1);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(BaseUri, "plaintext")));
        }
        Assert.Equal(1, await OnLoop(() => Server.TotalAccepted));
        Assert.Equal(50, await OnLoop(() => Server.SuccessResponses));
    }

    [Fact]
    public async Task ConcurrentClientsAreAllAnswered()
    {
        using HttpClient client = NewClient(maxConnections: 16);
        string[] bodies = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            i % 3 == 0 ? client.GetStringAsync(new Uri(BaseUri, "slow")) : client.GetStringAsync(new Uri(BaseUri, i % 3 == 1 ? "plaintext" : "json"))));
        Assert.Equal(67, bodies.Count(b => b == "slow"));
        Assert.Equal(67, bodies.Count(b => b == "Hello, World!"));
        Assert.Equal(66, bodies.Count(b => b.Contains("message", StringComparison.Ordinal)));
        Assert.InRange(await OnLoop(() => Server.TotalAccepted), 1, 16);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_000)]
    [InlineData(1024 * 1024)]
    public async Task ContentLengthBodiesStreamToTheHandler(int size)
    {
        byte[] body = RandomBody(size);
        using HttpClient client = NewClient();
        using HttpResponseMessage response = await client.PostAsync(new Uri(BaseUri, "echo"), new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(70_000)]
    [InlineData(1024 * 1024)]
    public async Task ChunkedBodiesStreamToTheHandler(int size)
    {
        byte[] body = RandomBody(size);
        using HttpClient client = NewClient();
        using var content = new StreamContent(new MemoryStream(body)); // no length: HttpClient sends it chunked
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, "echo")) { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task BodiesOverTheLimitAre413()
    {
        using HttpClient client = NewClient();
        using HttpResponseMessage declared = await client.PostAsync(new Uri(BaseUri, "echo"), new ByteArrayContent(new byte[1024 * 1024 + 1]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);

        using var chunked = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, "echo"))
        {
            Content = new StreamContent(new MemoryStream(new byte[1024 * 1024 + 1])),
        };
        chunked.Headers.TransferEncodingChunked = true;
        try
        {
            using HttpResponseMessage response = await client.SendAsync(chunked);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }
        catch (HttpRequestException)
        {
            // The server may close while the client is still sending the excess: also a refusal.
        }
    }

    [Fact]
    public async Task ExpectContinueGets100BeforeTheBody()
    {
        byte[] body = RandomBody(50_000);
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, "echo")) { Content = new ByteArrayContent(body) };
        request.Headers.ExpectContinue = true;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
        // The client waits up to 15 s for "100 Continue" before sending anyway: a body that came much sooner
        // proves the server sent it.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task ExpectContinueAnsweredWithoutReadingClosesTheConnection()
    {
        using HttpClient client = NewClient(maxConnections: 1);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(BaseUri, "ignore")) { Content = new ByteArrayContent(new byte[1000]) };
        request.Headers.ExpectContinue = true;
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal("ignored", await response.Content.ReadAsStringAsync());
        Assert.True(response.Headers.ConnectionClose);
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(BaseUri, "plaintext")));
    }

    [Fact]
    public async Task UnreadBodyIsSkippedAndTheConnectionKept()
    {
        using HttpClient client = NewClient(maxConnections: 1);
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage response = await client.PostAsync(new Uri(BaseUri, "ignore"), new ByteArrayContent(new byte[200_000]));
            Assert.Equal("ignored", await response.Content.ReadAsStringAsync());
        }
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(BaseUri, "plaintext")));
        Assert.Equal(1, await OnLoop(() => Server.TotalAccepted));
    }

    [Fact]
    public async Task HeadersReachTheHandler()
    {
        using HttpClient client = NewClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "headers?q=1"));
        request.Headers.Add("X-Test", "  value with spaces ");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
        using HttpResponseMessage response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("GET /headers?q=1 11\n", text);
        Assert.Contains("X-Test=value with spaces\n", text);
        Assert.Contains("Accept=text/plain\n", text);
        Assert.Contains($"Host=127.0.0.1:{EndPoint.Port}\n", text);
    }

    [Fact]
    public async Task HandlerFailureIs500AndCloses()
    {
        AllowErrors = true;
        using HttpClient client = NewClient();
        using HttpResponseMessage response = await client.GetAsync(new Uri(BaseUri, "throw"));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.True(response.Headers.ConnectionClose);
        Assert.Equal("Hello, World!", await client.GetStringAsync(new Uri(BaseUri, "plaintext")));
    }

    [Fact]
    public async Task FileBodiesGoBySendfile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"kevents-http-{Guid.NewGuid():N}.bin");
        byte[] content = RandomBody(3 * 1024 * 1024 + 7);
        await File.WriteAllBytesAsync(path, content);
        try
        {
            TestRoutes.FilePath = path;
            using HttpClient client = NewClient(maxConnections: 1);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(content, await client.GetByteArrayAsync(new Uri(BaseUri, "file")));
            }
            using var head = new HttpRequestMessage(HttpMethod.Head, new Uri(BaseUri, "file"));
            using HttpResponseMessage headResponse = await client.SendAsync(head);
            Assert.Equal(content.Length, headResponse.Content.Headers.ContentLength);
            Assert.Empty(await headResponse.Content.ReadAsByteArrayAsync());
            Assert.Equal(1, await OnLoop(() => Server.TotalAccepted));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] RandomBody(int size)
    {
        byte[] body = new byte[size];
        new Random(size).NextBytes(body);
        return body;
    }

    [Fact]
    public async Task Http10KeepAliveIsAnsweredWithKeepAlive()
    {
        using HttpClient client = NewClient(maxConnections: 1);
        client.DefaultRequestVersion = HttpVersion.Version10;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, "plaintext")) { Version = HttpVersion.Version10 };
        request.Headers.Connection.Add("keep-alive");
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal("Hello, World!", Encoding.ASCII.GetString(await response.Content.ReadAsByteArrayAsync()));
        Assert.Contains("keep-alive", response.Headers.Connection);
    }
}
