using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Hosting;
using Kevents.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

public sealed class HostLifecycleTests : HostTest
{
    [Fact]
    public async Task HostServesOnEveryLoopLogsThroughItsLoggerFactoryAndStopsCleanly()
    {
        IHost host = BuildHost(new()
        {
            ["Kevents:Loops"] = "2",
            ["Kevents:Distribution"] = "Acceptor",
            ["Kevents:Listeners:echo:EndPoint"] = "127.0.0.1:0",
        }, k => k.ListenTcp("echo", new StreamEcho()));
        await host.StartAsync().WaitAsync(Limit);
        KeventsHost kevents = host.Services.GetRequiredService<KeventsHost>();
        Assert.Equal(2, kevents.Group.Count);
        Assert.True(kevents.IsServing);

        var clients = new List<Socket>();
        for (int i = 0; i < 4; i++)
        {
            Socket client = await ConnectAsync(EndPointOf(host, "echo"));
            clients.Add(client);
            Assert.Equal($"hello {i}", await EchoAsync(client, $"hello {i}"));
        }
        // The acceptor hands each connection to the loop with the fewest: both loops serve.
        Assert.All(kevents.GetListener("echo").ConnectionCounts(), count => Assert.True(count >= 1, "a loop served no connection"));

        // The host's own messages and the loops' (Kevents.Net's Listening, id 100) reach the host's logger.
        Assert.Contains(Gate.Logs.Entries, e => e.EventId.Id == 500 && e.Message.Contains("echo", StringComparison.Ordinal));
        Assert.Contains(Gate.Logs.Entries, e => e.EventId.Id == 100);

        Gate.Expect(e => e.EventId.Id == 502); // the open clients are aborted when the (short) drain ends
        using var stopping = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await host.StopAsync(stopping.Token).WaitAsync(Limit);
        Assert.False(kevents.IsServing);
        foreach (Socket client in clients)
        {
            Assert.True(await ClosedByServerAsync(client), "a connection outlived the host");
            client.Dispose();
        }
        Assert.Contains(Gate.Logs.Entries, e => e.EventId.Id == 503 && e.Message.Contains("4 connections served", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StopRefusesNewConnectionsLetsTheApplicationFinishAndEndsWhenTheLastConnectionDoes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawEnd = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // A pipe application that answers once, then, when draining ends its input, finishes its work (held until
        // the test releases it) and says goodbye.
        async Task Application(PipeConnection connection)
        {
            while (true)
            {
                ReadResult read = await connection.Input.ReadAsync();
                if (!read.Buffer.IsEmpty)
                {
                    await connection.Output.WriteAsync(read.Buffer.ToArray());
                }
                connection.Input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }
            }
            sawEnd.TrySetResult();
            await release.Task;
            await connection.Output.WriteAsync("bye"u8.ToArray());
        }

        IHost host = BuildHost(new() { ["Kevents:Loops"] = "1", ["Kevents:Listeners:app:EndPoint"] = "127.0.0.1:0" },
            k => k.ListenTcp("app", Application), shutdownTimeout: TimeSpan.FromMinutes(5));
        await host.StartAsync().WaitAsync(Limit);
        var endPoint = EndPointOf(host, "app");
        using Socket client = await ConnectAsync(endPoint);
        Assert.Equal("before", await EchoAsync(client, "before"));

        Task stopped = host.StopAsync();
        await sawEnd.Task.WaitAsync(Limit);
        await WaitUntilRefusedAsync(endPoint);
        Assert.False(stopped.IsCompleted, "stop ended while the application was still working and the timeout far away");

        var clock = Stopwatch.StartNew();
        release.SetResult();
        var bye = new byte[3];
        Assert.Equal(3, await client.ReceiveAsync(bye.AsMemory()).AsTask().WaitAsync(Limit));
        Assert.Equal("bye", System.Text.Encoding.ASCII.GetString(bye));
        Assert.True(await ClosedByServerAsync(client));
        await stopped.WaitAsync(Limit);
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "stop waited for the shutdown timeout although the application had finished");
        Assert.DoesNotContain(Gate.Logs.Entries, e => e.EventId.Id == 502);
    }

    [Fact]
    public async Task TheHostsShutdownTimeoutEndsTheDrainAndAbortsWhatIsStillOpen()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // An application that never finishes: only the abort at the host's timeout ends its connections.
        async Task Stuck(PipeConnection connection)
        {
            ReadResult read = await connection.Input.ReadAsync();
            await connection.Output.WriteAsync(read.Buffer.ToArray());
            connection.Input.AdvanceTo(read.Buffer.End);
            await never.Task.WaitAsync(connection.ConnectionClosed);
        }

        IHost host = BuildHost(new() { ["Kevents:Loops"] = "2", ["Kevents:Listeners:stuck:EndPoint"] = "127.0.0.1:0" },
            k => k.ListenTcp("stuck", Stuck), shutdownTimeout: TimeSpan.FromMilliseconds(500));
        await host.StartAsync().WaitAsync(Limit);
        using Socket a = await ConnectAsync(EndPointOf(host, "stuck"));
        using Socket b = await ConnectAsync(EndPointOf(host, "stuck"));
        Assert.Equal("x", await EchoAsync(a, "x"));
        Assert.Equal("y", await EchoAsync(b, "y"));

        Gate.Expect(e => e.EventId.Id == 502 && e.Message.Contains("aborted 2 connections", StringComparison.Ordinal));
        Gate.Expect(e => e.EventId.Id == 106); // the application sees its connection aborted (ConnectionClosed cancels it)
        // The host's own shutdown timeout (500 ms) cancels the token StopAsync gets.
        await host.StopAsync().WaitAsync(Limit);
        Assert.True(await ClosedByServerAsync(a));
        Assert.True(await ClosedByServerAsync(b));
        Assert.Contains(Gate.Logs.Entries, e => e.EventId.Id == 502);
    }

    [Fact]
    public async Task CommandLineArgumentsAndEnvironmentStyleKeysConfigureTheHost()
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddCommandLine(["--Kevents:Loops=3", "--Kevents:Listeners:echo:EndPoint=127.0.0.1:0",
            "--Kevents:Listeners:echo:Server:MaxConnections=1"]);
        builder.Logging.ClearProviders().AddProvider(Gate.Logs);
        builder.Services.AddKevents(o => o.MaxLoopLag = TimeSpan.FromSeconds(2)).ListenTcp("echo", new StreamEcho());
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(Limit);
        KeventsHost kevents = host.Services.GetRequiredService<KeventsHost>();
        Assert.Equal(3, kevents.Group.Count);
        KeventsOptions bound = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<KeventsOptions>>().Value;
        Assert.Equal(1, bound.Listeners["ECHO"].Server.MaxConnections);
        Assert.Equal(TimeSpan.FromSeconds(2), bound.MaxLoopLag);
        await host.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public void ListenersAreNamedOnceAndWithoutColons()
    {
        var services = new ServiceCollection();
        KeventsBuilder kevents = services.AddKevents().ListenTcp("echo", new StreamEcho());
        Assert.Contains("registered already", Assert.Throws<ArgumentException>(() => kevents.ListenTcp("ECHO", new StreamEcho())).Message, StringComparison.Ordinal);
        Assert.Contains("':'", Assert.Throws<ArgumentException>(() => kevents.ListenTcp("a:b", new StreamEcho())).Message, StringComparison.Ordinal);
        Assert.Contains("called twice", Assert.Throws<InvalidOperationException>(() => services.AddKevents()).Message, StringComparison.Ordinal);
    }

    private static async Task WaitUntilRefusedAsync(System.Net.IPEndPoint endPoint)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var probe = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(endPoint).WaitAsync(Limit);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }
            Assert.True(deadline.Elapsed < Limit, "the listener still accepted connections after stop began");
            await Task.Delay(20);
        }
    }
}
