using Kevents.Hosting;
using Microsoft.Extensions.Hosting;

namespace Kevents.Tests;

/// <summary>A bad setting stops the host's start with a message that names its configuration key, and leaks nothing.</summary>
public sealed class ConfigurationValidationTests : HostTest
{
    // The generic host logs the failure it rethrows; that is the expected outcome here.
    public ConfigurationValidationTests() => Gate.Expect(e => e.EventId.Name == "HostedServiceStartupFaulted");

    [Theory]
    [InlineData("Kevents:Loops", "0", "Kevents:Loops is 0")]
    [InlineData("Kevents:Loops", "many", "Kevents:Loops")]
    [InlineData("Kevents:MaxLoopLag", "-00:00:01", "Kevents:MaxLoopLag")]
    [InlineData("Kevents:Distribution", "Sideways", "Kevents:Distribution")]
    [InlineData("Kevents:Listeners:echo:EndPoint", "localhost-7000", "Kevents:Listeners:echo:EndPoint is 'localhost-7000'")]
    [InlineData("Kevents:Listeners:echo:EndPoint", "127.0.0.1", "Kevents:Listeners:echo:EndPoint is '127.0.0.1'")]
    [InlineData("Kevents:Listeners:other:EndPoint", "127.0.0.1:0", "Kevents:Listeners:other is configured but no handler serves it")]
    [InlineData("Kevents:Listeners:echo:Server:MaxConnections", "0", "Kevents:Listeners:echo:Server:MaxConnections:")]
    [InlineData("Kevents:Listeners:echo:Server:Backlog", "-5", "Kevents:Listeners:echo:Server:Backlog:")]
    [InlineData("Kevents:Listeners:echo:Server:Connection:MaxOutputBufferSize", "0", "Kevents:Listeners:echo:Server:Connection:MaxOutputBufferSize:")]
    public async Task ABadSettingFailsTheStartNamingItsKey(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?> { ["Kevents:Loops"] = "2", ["Kevents:Listeners:echo:EndPoint"] = "127.0.0.1:0" };
        settings[key] = value;
        IHost host = BuildHost(settings, k => k.ListenTcp("echo", new StreamEcho()));
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync().WaitAsync(Limit));
        Assert.Contains(expected, Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AListenerWithoutAnEndPointFailsTheStartSayingHowToGiveOne()
    {
        IHost host = BuildHost(new() { ["Kevents:Loops"] = "1" }, k => k.ListenTcp("echo", new StreamEcho()));
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync().WaitAsync(Limit));
        Assert.Contains("Kevents:Listeners:echo:EndPoint is missing", Flatten(error), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheDefaultEndPointServesWhenConfigurationGivesNone()
    {
        IHost host = BuildHost(new() { ["Kevents:Loops"] = "1" }, k => k.ListenTcp("echo", new StreamEcho(), "127.0.0.1:0"));
        await host.StartAsync().WaitAsync(Limit);
        using var client = await ConnectAsync(EndPointOf(host, "echo"));
        Assert.Equal("ok", await EchoAsync(client, "ok"));
        client.Close();
        await host.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public async Task APortInUseFailsTheStartNamingTheListenerAndReleasesTheLoops()
    {
        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        taken.Bind(TestUtil.AnyLoopback());
        taken.Listen();
        string endPoint = taken.LocalEndPoint!.ToString()!;
        IHost host = BuildHost(new() { ["Kevents:Loops"] = "2", ["Kevents:Distribution"] = "Acceptor", ["Kevents:Listeners:echo:EndPoint"] = endPoint },
            k => k.ListenTcp("echo", new StreamEcho()));
        Exception error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync().WaitAsync(Limit));
        Assert.Contains("Kevents:Listeners:echo:EndPoint", Flatten(error), StringComparison.Ordinal);
    }

    private static string Flatten(Exception error)
    {
        var text = new System.Text.StringBuilder();
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            text.AppendLine(e.Message);
        }
        return text.ToString();
    }
}
