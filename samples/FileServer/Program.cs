using System.CommandLine;
using System.Globalization;
using System.Net;
using FileServer;
using Kevents;
using Kevents.Http;
using Kevents.Net;
using Kevents.Samples;
using Microsoft.Extensions.Logging;

// HTTP/1.1 static file server on Kevents. `dotnet run --project samples/FileServer -c Release -- --root ./site`.
Option<string> rootOption = SampleOptions.Text("--root", ".", "DIR", "directory to serve (. is the current directory)",
    "a directory", static dir => dir.Length > 0);
Option<int> portOption = SampleOptions.Port(8080, "TCP port (0 picks a free port)");
Option<IPAddress> bindOption = SampleOptions.Bind("IP address to bind (use 0.0.0.0 or :: for all interfaces)");
Option<double> headerTimeoutOption = SampleOptions.Seconds("--header-timeout", 30,
    "time allowed for a request head, from its first byte", aboveZero: true);
Option<double> idleTimeoutOption = SampleOptions.Seconds("--idle-timeout", 75, "close keep-alive connections idle this long", aboveZero: true);
Option<int> maxConnectionsOption = SampleOptions.MaxConnections(
    "connection limit (capped at half of what the fd limit leaves after a reserve of 5% (16..256): " +
    "each download holds a socket and a file)");
Option<bool> verboseOption = SampleOptions.Flag("--verbose", "log client errors (Debug level)");
Option<string> coldFilesOption = SampleOptions.Choice("--cold-files", "threadlet", ["threadlet", "inline"],
    "bodies not in the page cache: threadlet reads them into the cache on a cache-miss thread while the loop serves " +
    "others; inline sends them with sendfile on the loop, which waits for the disk (for comparisons)");
Option<int> loopsOption = SampleOptions.Loops();
Option<string> backendOption = SampleOptions.Backend();
Option<string> distributionOption = SampleOptions.Distribution();
var commandLine = new SampleCommand("FileServer",
    "HTTP/1.1 static file server on Kevents. Serves GET and HEAD with keep-alive and byte ranges; never serves a file " +
    "outside the root. Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.",
    rootOption, portOption, bindOption, headerTimeoutOption, idleTimeoutOption, maxConnectionsOption, verboseOption,
    coldFilesOption, loopsOption, distributionOption, backendOption);
if (!commandLine.TryParse(args, out ParseResult parsed, out int exitCode))
{
    return exitCode;
}
var options = new FileServerOptions
{
    Root = parsed.GetValue(rootOption)!,
    HeaderTimeout = TimeSpan.FromSeconds(parsed.GetValue(headerTimeoutOption)),
    IdleTimeout = TimeSpan.FromSeconds(parsed.GetValue(idleTimeoutOption)),
    MaxConnections = parsed.GetValue(maxConnectionsOption),
    ColdFiles = parsed.GetValue(coldFilesOption) == "inline" ? ColdFileMode.Inline : ColdFileMode.Threadlet,
};
int port = parsed.GetValue(portOption);
IPAddress bind = parsed.GetValue(bindOption)!;
bool verbose = parsed.GetValue(verboseOption);
int loopCount = parsed.GetValue(loopsOption);
LoopDistribution distribution = SampleOptions.ParseDistribution(parsed.GetValue(distributionOption)!);
LoopBackend backend = SampleOptions.ParseBackend(parsed.GetValue(backendOption)!);

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("FileServer");

if (loopCount > 1)
{
    return RunGroup();
}

using var loop = new EventLoop(new EventLoopOptions { LoggerFactory = loggerFactory, Name = "fileserver", Backend = backend });
StaticFileServer server;
try
{
    server = StaticFileServer.Start(loop, new IPEndPoint(bind, port), options, logger);
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or PlatformNotSupportedException)
{
    logger.LogError("{Message}", ex.Message);
    return 1;
}

// SIGINT and SIGTERM arrive as kevents, so shutdown runs on the loop thread like everything else.
StopSignals.Register(loop, signal =>
{
    logger.LogInformation("{Signal} received; finishing responses in flight", signal);
    server.ShutdownAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
});

var started = System.Diagnostics.Stopwatch.StartNew();
loop.Run();
FileServerStats stats = server.Stats;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"FileServer: {stats.Requests} requests ({stats.Success} ok, {stats.ClientErrors} client errors, {stats.ServerErrors} server errors), " +
    $"{stats.BodyBytes / (1024.0 * 1024.0):F1} MiB of bodies, {server.TotalAccepted} connections, {stats.AbortedResponses} aborted downloads, " +
    $"{server.Http?.ColdFileReads ?? 0} cold reads, up {started.Elapsed.TotalSeconds:F1} s, connections per loop: {server.TotalAccepted}"));
server.Dispose();
return 0;

// --loops N: one StaticFileServer per loop (its own root descriptor, buffers, timers and counters: nothing shared),
// fed by one group listener spread over the loops by --distribution.
int RunGroup()
{
    using var group = new EventLoopGroup(new EventLoopGroupOptions
    {
        LoopCount = loopCount,
        PinToCpus = distribution == LoopDistribution.ReusePortCpu,
        LoggerFactory = loggerFactory,
        Backend = backend,
    });
    var handlers = new StaticFileServer?[loopCount];
    HttpServerGroup servers;
    try
    {
        servers = group.ListenHttp(new IPEndPoint(bind, port),
            loop => (handlers[group.IndexOf(loop)] = StaticFileServer.ForLoop(loop, options, logger)).Handle,
            StaticFileServer.HttpOptionsFor(options, loopCount), distribution);
    }
    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or PlatformNotSupportedException or ArgumentException)
    {
        foreach (StaticFileServer? handler in handlers)
        {
            handler?.Dispose();
        }
        logger.LogError("{Message}", ex.Message);
        return 1;
    }
    var endPoint = (IPEndPoint)servers.LocalEndPoint;
    for (int i = 0; i < loopCount; i++)
    {
        handlers[i]!.Attach(servers.Servers[i]);
    }
    StopSignals.Register(group.Loops[0], signal =>
    {
        logger.LogInformation("{Signal} received; finishing responses in flight", signal);
        // Off the loop thread: StopAccepting waits for every loop, and a loop must not wait for another.
        Task.Run(async () =>
        {
            await servers.ShutdownAsync(TimeSpan.FromSeconds(10));
            group.Stop();
        });
    });
    FileServer.Log.Listening(logger, Path.GetFullPath(options.Root), endPoint.ToString());
    logger.LogInformation("{Loops} loops, connections spread by {Distribution}", loopCount, SampleOptions.DistributionName(distribution));
    var started = System.Diagnostics.Stopwatch.StartNew();
    group.Start();
    group.Completion.GetAwaiter().GetResult();
    var all = handlers.Select(h => h!.Stats).ToArray();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"FileServer: {all.Sum(s => s.Requests)} requests ({all.Sum(s => s.Success)} ok, {all.Sum(s => s.ClientErrors)} client errors, " +
        $"{all.Sum(s => s.ServerErrors)} server errors), {all.Sum(s => s.BodyBytes) / (1024.0 * 1024.0):F1} MiB of bodies, " +
        $"{servers.TotalAccepted} connections, {all.Sum(s => s.AbortedResponses)} aborted downloads, " +
        $"{servers.Servers.Sum(s => s.ColdFileReads)} cold reads, up {started.Elapsed.TotalSeconds:F1} s, " +
        $"connections per loop: {string.Join("/", servers.AcceptedCounts())}"));
    foreach (StaticFileServer? handler in handlers)
    {
        handler!.Dispose();
    }
    servers.Dispose();
    return 0;
}
