using Kevents.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Kevents.Tests;

public sealed class HealthCheckTests : HostTest
{
    // The health check service logs every unhealthy result as an error; these tests provoke them on purpose.
    public HealthCheckTests() => Gate.Expect(e => e.EventId.Name == "HealthCheckEnd");

    private IHost Build() => BuildHost(new()
    {
        ["Kevents:Loops"] = "2",
        ["Kevents:MaxLoopLag"] = "00:00:00.200",
        ["Kevents:Listeners:echo:EndPoint"] = "127.0.0.1:0",
    }, k => k.ListenTcp("echo", new StreamEcho()), services: s => s.AddHealthChecks().AddKevents(tags: ["ready"]));

    private static Task<HealthReport> CheckAsync(IHost host) =>
        host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Limit);

    [Fact]
    public async Task ServingLoopsAreHealthyAndEachLoopsLagIsReported()
    {
        IHost host = Build();
        await host.StartAsync().WaitAsync(Limit);
        HealthReport report = await CheckAsync(host);
        HealthReportEntry entry = report.Entries["kevents"];
        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Contains("ready", entry.Tags);
        foreach (EventLoop loop in host.Services.GetRequiredService<KeventsHost>().Group.Loops)
        {
            Assert.True(entry.Data.ContainsKey(loop.Name), $"no lag reported for {loop.Name}");
        }
        await host.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public async Task ABlockedLoopIsUnhealthyAndNamed()
    {
        IHost host = Build();
        await host.StartAsync().WaitAsync(Limit);
        EventLoop blocked = host.Services.GetRequiredService<KeventsHost>().Group.Loops[1];
        using var release = new ManualResetEventSlim();
        blocked.Post(() => release.Wait(Limit));
        try
        {
            HealthReport report = await CheckAsync(host);
            HealthReportEntry entry = report.Entries["kevents"];
            Assert.Equal(HealthStatus.Unhealthy, entry.Status);
            Assert.Contains(blocked.Name, entry.Description, StringComparison.Ordinal);
            Assert.DoesNotContain(host.Services.GetRequiredService<KeventsHost>().Group.Loops[0].Name + " (", entry.Description, StringComparison.Ordinal);
        }
        finally
        {
            release.Set();
        }
        // Once the loop runs again, so does the report.
        HealthReport after = await CheckAsync(host);
        Assert.Equal(HealthStatus.Healthy, after.Entries["kevents"].Status);
        await host.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public async Task AHostThatIsNotServingIsUnhealthy()
    {
        IHost host = Build();
        Assert.Equal(HealthStatus.Unhealthy, (await CheckAsync(host)).Entries["kevents"].Status);
        await host.StartAsync().WaitAsync(Limit);
        Assert.Equal(HealthStatus.Healthy, (await CheckAsync(host)).Entries["kevents"].Status);
        await host.StopAsync().WaitAsync(Limit);
        HealthReportEntry stopped = (await CheckAsync(host)).Entries["kevents"];
        Assert.Equal(HealthStatus.Unhealthy, stopped.Status);
        Assert.Contains("not serving", stopped.Description, StringComparison.Ordinal);
    }
}
