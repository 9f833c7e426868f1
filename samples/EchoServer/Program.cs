using System.CommandLine;
using System.Net;
using EchoServer;
using Kevents;
using Kevents.Net;
using Kevents.Samples;
using Microsoft.Extensions.Logging;

// TCP echo server on Kevents. `dotnet run --project samples/EchoServer -c Release` serves 127.0.0.1:7000.
Option<int> portOption = SampleOptions.Port(7000, "TCP port (0 picks a free port)");
Option<IPAddress> bindOption = SampleOptions.Bind("IP address to bind (use :: or ::1 for IPv6)");
Option<string?> unixOption = SampleOptions.UnixPath("listen on a Unix domain socket instead of TCP");
Option<int> maxConnectionsOption = SampleOptions.MaxConnections("connection limit (capped at the fd limit - 32)");
Option<double> idleOption = SampleOptions.Seconds("--idle-timeout", 75, "close connections idle this long (0 disables)");
Option<string> apiOption = SampleOptions.Choice("--api", "stream", ["stream", "pipe", "kevents"],
    "stream: Kevents.Net's low-level API (fastest); pipe: connections as System.IO.Pipelines duplex pipes; " +
    "kevents: raw Read/Write kevents on the bare loop (TCP only)");
Option<int> spinOption = SampleOptions.Int("--spin-us", 50, 0, 1_000_000, "N",
    "while lightly loaded, poll this many microseconds before blocking in epoll_wait " +
    "(a wake-up from a blocking wait costs tens of microseconds; 0 never spins)");
Option<bool> metricsOption = SampleOptions.Flag("--metrics",
    "listen to every instrument of the Kevents meter in-process and collect them once a second (measures what observing costs)");
var commandLine = new SampleCommand("EchoServer",
    "TCP echo server on Kevents. Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.",
    portOption, bindOption, unixOption, maxConnectionsOption, idleOption, apiOption, spinOption, metricsOption);
commandLine.Check(p => p.GetValue(apiOption) == "kevents" && p.GetValue(unixOption) is not null
    ? "--api kevents serves TCP only: drop --unix, or use --api stream or pipe." : null);
if (!commandLine.TryParse(args, out ParseResult parsed, out int exitCode))
{
    return exitCode;
}
int port = parsed.GetValue(portOption);
IPAddress bind = parsed.GetValue(bindOption)!;
string? unixPath = parsed.GetValue(unixOption);
int maxConnections = parsed.GetValue(maxConnectionsOption);
double idleSeconds = parsed.GetValue(idleOption);
string api = parsed.GetValue(apiOption)!;
int spinMicroseconds = parsed.GetValue(spinOption);
using MetricsListener? metrics = parsed.GetValue(metricsOption) ? new MetricsListener() : null;

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("EchoServer");

using var loop = new EventLoop(new EventLoopOptions
{
    LoggerFactory = loggerFactory,
    Name = "echo",
    SpinBeforeSleep = TimeSpan.FromMicroseconds(spinMicroseconds),
});

var options = new ServerOptions
{
    MaxConnections = maxConnections,
    Connection = new ConnectionOptions { IdleTimeout = idleSeconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(idleSeconds) },
};

SocketServer? server = null;
RawEchoServer? raw = null;
try
{
    if (api == "kevents")
    {
        raw = new RawEchoServer(loop, logger);
        raw.Start(new IPEndPoint(bind, port));
    }
    else if (unixPath is not null)
    {
        server = api == "pipe" ? loop.ListenUnix(unixPath, PipeEcho.RunAsync, options) : loop.ListenUnix(unixPath, new StreamEcho(), options);
    }
    else
    {
        var endPoint = new IPEndPoint(bind, port);
        server = api == "pipe" ? loop.ListenTcp(endPoint, PipeEcho.RunAsync, options) : loop.ListenTcp(endPoint, new StreamEcho(), options);
    }
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ArgumentException)
{
    logger.LogError("{Message}", ex.Message);
    return 1;
}

// SIGINT and SIGTERM arrive as kevents, so shutdown happens on the loop thread like everything else.
StopSignals.Register(loop, signal =>
{
    logger.LogInformation("{Signal} received; draining connections", signal);
    if (server is null)
    {
        loop.Stop();
        return;
    }
    server.ShutdownAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
});

var started = System.Diagnostics.Stopwatch.StartNew();
logger.LogInformation("Echo server ({Api} API) listening on {EndPoint}", api,
    server?.LocalEndPoint.ToString() ?? raw?.LocalEndPoint?.ToString());
loop.Run();
if (server is not null)
{
    Console.WriteLine($"EchoServer: {server.TotalAccepted} connections served, {server.TotalRejected} refused, " +
        $"{server.ConnectionCount} open at exit, up {started.Elapsed.TotalSeconds:F1} s, {loop.Iterations} loop turns");
    server.Dispose();
}
else if (raw is not null)
{
    Console.WriteLine($"EchoServer: {raw.Accepted} connections served, {raw.ConnectionCount} open at exit, up {started.Elapsed.TotalSeconds:F1} s");
    raw.Dispose();
}
if (metrics is not null)
{
    Console.WriteLine(metrics.Summary());
}
return 0;
