using System.Net;
using Kevents.Tests;

namespace Kevents.Http.Tests;

/// <summary>group.ListenHttp: one HttpServer per loop behind one listener, drained together.</summary>
public sealed class GroupTests : GatedTest
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryLoopServesAndTheGroupDrains(bool perLoopFactory)
    {
        using var group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = Gate.LoggerFactory });
        var made = new List<EventLoop>();
        var endPoint = new IPEndPoint(IPAddress.Loopback, 0);
        HttpServerGroup servers = perLoopFactory
            ? group.ListenHttp(endPoint, loop =>
            {
                lock (made)
                {
                    made.Add(loop);
                }
                return TestRoutes.Handle;
            })
            : group.ListenHttp(endPoint, TestRoutes.Handle);
        group.Start();
        try
        {
            Assert.Equal(2, servers.Servers.Count);
            Assert.Equal(perLoopFactory ? 2 : 0, made.Count);
            var uri = new Uri($"http://127.0.0.1:{((IPEndPoint)servers.LocalEndPoint).Port}/plaintext");
            // Fresh connections until each loop has answered at least one (reuseport spreads them by hash).
            for (int i = 0; i < 200 && servers.AcceptedCounts().Any(c => c == 0); i++)
            {
                using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(20) };
                Assert.Equal("Hello, World!", await client.GetStringAsync(uri));
            }
            Assert.All(servers.AcceptedCounts(), c => Assert.True(c > 0));
            await servers.ShutdownAsync(TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(20));
            long[] served = await Task.WhenAll(servers.Servers.Select(s => s.Loop.InvokeAsync(() => s.SuccessResponses)));
            Assert.All(served, n => Assert.True(n > 0));
        }
        finally
        {
            servers.Dispose();
            group.Stop();
            await group.Completion.WaitAsync(TimeSpan.FromSeconds(20));
        }
    }
}
