using System.Net;
using System.Net.Sockets;
using Kevents.Hosting;
using Kevents.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>
/// Base of the hosting tests: builds a generic host from in-memory configuration (an empty builder, so no file
/// watchers hold descriptors), with the leak gate's logger as the host's, and disposes it before the gate checks.
/// </summary>
public abstract class HostTest : GatedTest
{
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly List<IHost> _hosts = [];

    static HostTest()
    {
        RuntimeWarmUp.Sockets();
        WarmUp();
    }

    /// <summary>
    /// Runs one host through start, a connection, a health check and stop before any test takes its descriptor
    /// baseline: the first use of the hosting, options, configuration and health check assemblies maps their files,
    /// which the leak gate would otherwise count against whichever test came first.
    /// </summary>
    private static void WarmUp()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kevents:Loops"] = "1" });
        builder.Logging.ClearProviders();
        builder.Services.AddKevents().ListenTcp("warm-up", new StreamEcho(), "127.0.0.1:0");
        builder.Services.AddHealthChecks().AddKevents();
        using IHost host = builder.Build();
        host.StartAsync().GetAwaiter().GetResult();
        using (Socket client = ConnectAsync(EndPointOf(host, "warm-up")).GetAwaiter().GetResult())
        {
            EchoAsync(client, "warm").GetAwaiter().GetResult();
        }
        host.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>()
            .CheckHealthAsync().GetAwaiter().GetResult();
        host.StopAsync().GetAwaiter().GetResult();
    }

    protected IHost BuildHost(Dictionary<string, string?> settings, Action<KeventsBuilder> listeners,
        TimeSpan? shutdownTimeout = null, Action<IServiceCollection>? services = null)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders().AddProvider(Gate.Logs).SetMinimumLevel(LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(10));
        listeners(builder.Services.AddKevents());
        services?.Invoke(builder.Services);
        IHost host = builder.Build();
        _hosts.Add(host);
        return host;
    }

    protected static IPEndPoint EndPointOf(IHost host, string listener) =>
        (IPEndPoint)host.Services.GetRequiredService<KeventsHost>().GetListener(listener).LocalEndPoint;

    protected static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(Limit);
        return socket;
    }

    /// <summary>Sends <paramref name="text"/> and reads until as many bytes came back.</summary>
    protected static async Task<string> EchoAsync(Socket socket, string text)
    {
        byte[] sent = System.Text.Encoding.ASCII.GetBytes(text);
        await socket.SendAsync(sent.AsMemory()).AsTask().WaitAsync(Limit);
        var received = new byte[sent.Length];
        int total = 0;
        while (total < received.Length)
        {
            int n = await socket.ReceiveAsync(received.AsMemory(total)).AsTask().WaitAsync(Limit);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return System.Text.Encoding.ASCII.GetString(received, 0, total);
    }

    /// <summary>True when the peer ended the connection (end of stream or reset).</summary>
    protected static async Task<bool> ClosedByServerAsync(Socket socket)
    {
        var buffer = new byte[64];
        try
        {
            return await socket.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Limit) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    public override void Dispose()
    {
        foreach (IHost host in _hosts)
        {
            host.Dispose();
        }
        base.Dispose();
    }
}

/// <summary>Echoes every byte back from the loop's buffer.</summary>
internal sealed class StreamEcho : IStreamHandler
{
    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
}
