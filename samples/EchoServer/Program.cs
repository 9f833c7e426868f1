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
Option<int> loopsOption = SampleOptions.Loops();
Option<string> backendOption = SampleOptions.Backend();
Option<string> distributionOption = SampleOptions.Distribution();
Option<bool> reusePortOption = SampleOptions.Flag("--reuse-port",
    "set SO_REUSEPORT on the listener, so several EchoServer processes can share one port (the kernel spreads connections)");
var commandLine = new SampleCommand("EchoServer",
    "TCP echo server on Kevents. Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.",
    portOption, bindOption, unixOption, maxConnectionsOption, idleOption, apiOption, spinOption, loopsOption, distributionOption, reusePortOption, metricsOption, backendOption);
commandLine.Check(p => p.GetValue(apiOption) == "kevents" && p.GetValue(unixOption) is not null
    ? "--api kevents serves TCP only: drop --unix, or use --api stream or pipe." : null);
commandLine.Check(p => p.GetValue(loopsOption) > 1 && (p.GetValue(apiOption) == "kevents" || p.GetValue(unixOption) is not null)
    ? "--loops above 1 serves TCP with --api stream or pipe: drop --unix and --api kevents, or use --loops 1." : null);
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
int loopCount = parsed.GetValue(loopsOption);
LoopDistribution distribution = SampleOptions.ParseDistribution(parsed.GetValue(distributionOption)!);
LoopBackend backend = SampleOptions.ParseBackend(parsed.GetValue(backendOption)!);

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("EchoServer");

var options = new ServerOptions
{
    MaxConnections = maxConnections,
    ReusePort = parsed.GetValue(reusePortOption),
    Connection = new ConnectionOptions { IdleTimeout = idleSeconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(idleSeconds) },
};

if (loopCount > 1)
{
    return RunGroup();
}

using var loop = new EventLoop(new EventLoopOptions
{
    LoggerFactory = loggerFactory,
    Name = "echo",
    Backend = backend,
    SpinBeforeSleep = TimeSpan.FromMicroseconds(spinMicroseconds),
});

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
logger.LogInformation("Echo server ({Api} API, {Backend}) listening on {EndPoint}", api,
    SampleOptions.BackendName(loop.Backend), server?.LocalEndPoint.ToString() ?? raw?.LocalEndPoint?.ToString());
loop.Run();
if (server is not null)
{
    Console.WriteLine($"EchoServer: {server.TotalAccepted} connections served, {server.TotalRejected} refused, " +
        $"{server.ConnectionCount} open at exit, up {started.Elapsed.TotalSeconds:F1} s, {loop.Iterations} loop turns, " +
        $"connections per loop: {server.TotalAccepted}");
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

// --loops N: one loop per thread (kevents-loop-0...), the listener spread over them by --distribution.
int RunGroup()
{
    using var group = new EventLoopGroup(new EventLoopGroupOptions
    {
        LoopCount = loopCount,
        PinToCpus = distribution == LoopDistribution.ReusePortCpu,
        LoggerFactory = loggerFactory,
        Backend = backend,
        ConfigureLoop = (_, o) => o.SpinBeforeSleep = TimeSpan.FromMicroseconds(spinMicroseconds),
    });
    SocketServerGroup servers;
    try
    {
        var endPoint = new IPEndPoint(bind, port);
        servers = api == "pipe"
            ? group.ListenTcp(endPoint, PipeEcho.RunAsync, options, distribution)
            : group.ListenTcp(endPoint, new StreamEcho(), options, distribution);
    }
    catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ArgumentException)
    {
        logger.LogError("{Message}", ex.Message);
        return 1;
    }
    StopSignals.Register(group.Loops[0], signal =>
    {
        logger.LogInformation("{Signal} received; draining connections", signal);
        servers.ShutdownAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => group.Stop(), TaskScheduler.Default);
    });
    var started = System.Diagnostics.Stopwatch.StartNew();
    logger.LogInformation("Echo server ({Api} API, {Loops} loops, {Distribution}, {Backend}) listening on {EndPoint}", api,
        loopCount, SampleOptions.DistributionName(distribution), SampleOptions.BackendName(group.Loops[0].Backend),
        servers.LocalEndPoint);
    group.Start();
    group.Completion.GetAwaiter().GetResult();
    long turns = group.Loops.Sum(l => l.Iterations);
    Console.WriteLine($"EchoServer: {servers.TotalAccepted} connections served, {servers.TotalRejected} refused, " +
        $"{servers.ConnectionCount} open at exit, up {started.Elapsed.TotalSeconds:F1} s, {turns} loop turns, " +
        $"connections per loop: {string.Join("/", servers.AcceptedCounts())}");
    servers.Dispose();
    return 0;
}
