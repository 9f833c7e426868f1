using Kevents.Hosting;
using Kevents.Net;
using Kevents.Samples;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

// The echo server on the .NET generic host. Settings come from appsettings.json, environment variables
// (Kevents__Loops=4) and the command line (--Kevents:Loops=4); SIGTERM or Ctrl+C drains connections until the
// host's shutdown timeout (--shutdownTimeoutSeconds=N, default 30), then aborts the rest.
// Settings are read beside the program (appsettings.json is copied there), not from whatever directory it was
// started in: `dotnet run --project samples/HostedEchoServer` from the repository root finds them too.
HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory,
});

// Under systemd (Type=notify) this reports READY and STOPPING, and logs in the journal's format; elsewhere it does nothing.
builder.Services.AddSystemd();

var health = new HealthEndpoint();
builder.Services.AddKevents()
    .ListenTcp("echo", new StreamEcho(), "127.0.0.1:7000")
    .ListenTcp("health", health.ServeAsync, "127.0.0.1:7001");
builder.Services.AddHealthChecks().AddKevents(tags: ["ready"]);

// --Metrics=true listens to every instrument of the Kevents meter in-process, as an exporter would (bench/metrics-cost.sh
// measures what hosting and observing cost together this way).
using MetricsListener? metrics = builder.Configuration.GetValue<bool>("Metrics") ? new MetricsListener() : null;
using IHost host = builder.Build();
health.Checks = host.Services.GetRequiredService<HealthCheckService>();
await host.RunAsync();
if (metrics is not null)
{
    Console.WriteLine(metrics.Summary());
}

/// <summary>Echo with the low-level API: every byte read is written straight back from the loop's buffer.</summary>
internal sealed class StreamEcho : IStreamHandler
{
    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
}
