using System.Net;
using System.Text.RegularExpressions;
using Kevents.Native;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>The HttpServer sample as users run it: a child process on port 0, HttpClient against it, then SIGTERM.</summary>
public partial class HttpServerProcessTests : GatedTest
{
    static HttpServerProcessTests() => RuntimeWarmUp.ChildProcesses();

    [GeneratedRegex(@"HTTP server listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    [Fact]
    public async Task HttpServerProcessServesPlaintextAndJsonAndExitsCleanlyOnSigterm()
    {
        using var server = new SampleProcess("HttpServer.dll", ListeningLine(), fdLimit: 0, "--port", "0");
        int port = server.WaitForPort();
        using (var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 4 }) { Timeout = TimeSpan.FromSeconds(20) })
        {
            var baseUri = new Uri($"http://127.0.0.1:{port}/");
            using HttpResponseMessage plain = await client.GetAsync(new Uri(baseUri, "plaintext"));
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
            Assert.Equal("Hello, World!", await plain.Content.ReadAsStringAsync());
            Assert.Equal("Kevents", plain.Headers.Server.ToString());
            Assert.NotNull(plain.Headers.Date);
            string[] json = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => client.GetStringAsync(new Uri(baseUri, "json"))));
            Assert.All(json, body => Assert.Equal("{\"message\":\"Hello, World!\"}", body));
            Assert.Contains("/plaintext", await client.GetStringAsync(baseUri));
        }

        Assert.Equal(0, ProcessSignals.Send(server.Process.Id, Signals.SIGTERM));
        Assert.True(server.Process.WaitForExit(TimeSpan.FromSeconds(15)), "HttpServer did not exit after SIGTERM.");
        server.Process.WaitForExit();
        Assert.Equal(0, server.Process.ExitCode);
        Assert.Contains("SIGTERM received; finishing requests in flight", server.Output);
        Assert.Contains("HttpServer: 10 requests (10 ok, 0 client errors, 0 server errors)", server.Output);
    }
}
