using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Kevents.Tests;

/// <summary>The generic-host sample run as a service manager runs it: started, probed, stopped with SIGTERM.</summary>
public sealed partial class HostedEchoServerProcessTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [GeneratedRegex(@"listener echo serving on 127\.0\.0\.1:(\d+)")]
    private static partial Regex EchoListening();

    [GeneratedRegex(@"listener health serving on 127\.0\.0\.1:(\d+)")]
    private static partial Regex HealthListening();

    [Fact]
    public async Task HostedSampleEchoesAnswersItsHealthProbeAndDrainsOnSigterm()
    {
        RuntimeWarmUp.ChildProcesses();
        using var sample = new SampleProcess("HostedEchoServer.dll", EchoListening(), 0,
            "--Kevents:Loops=2", "--Kevents:Listeners:echo:EndPoint=127.0.0.1:0", "--Kevents:Listeners:health:EndPoint=127.0.0.1:0",
            "--shutdownTimeoutSeconds=2");
        int echoPort = sample.WaitForPort();
        int healthPort = await WaitForAsync(() => HealthListening().Match(sample.Output) is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0);

        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, echoPort)).WaitAsync(Limit);
        await client.SendAsync("ping"u8.ToArray().AsMemory()).AsTask().WaitAsync(Limit);
        var echoed = new byte[4];
        Assert.Equal(4, await client.ReceiveAsync(echoed.AsMemory()).AsTask().WaitAsync(Limit));
        Assert.Equal("ping", Encoding.ASCII.GetString(echoed));

        string probe = await GetAsync(healthPort, "/healthz");
        Assert.StartsWith("HTTP/1.1 200 OK", probe, StringComparison.Ordinal);
        Assert.Contains("kevents: Healthy", probe, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 404", await GetAsync(healthPort, "/elsewhere"), StringComparison.Ordinal);

        // SIGTERM with a client still connected: the host stops accepting, ends the idle echo connection once its
        // output is sent, reports the echo connection and both probes as served, and exits 0.
        sample.StopAndAssertClean();
        var rest = new byte[16];
        int n;
        try
        {
            n = await client.ReceiveAsync(rest.AsMemory()).AsTask().WaitAsync(Limit);
        }
        catch (SocketException)
        {
            n = 0;
        }
        Assert.Equal(0, n);
        Assert.Contains("Kevents stopping", sample.Output, StringComparison.Ordinal);
        Assert.Contains("Kevents stopped: 3 connections served", sample.Output, StringComparison.Ordinal);
    }

    private static async Task<string> GetAsync(int port, string path)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Limit);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n").AsMemory()).AsTask().WaitAsync(Limit);
        var response = new StringBuilder();
        var buffer = new byte[1024];
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Limit);
            if (n == 0)
            {
                return response.ToString();
            }
            response.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
    }

    private static async Task<int> WaitForAsync(Func<int> probe)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < Limit)
        {
            int value = probe();
            if (value != 0)
            {
                return value;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("the hosted sample never printed the health listener's endpoint");
    }
}
