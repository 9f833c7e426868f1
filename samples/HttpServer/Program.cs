using System.CommandLine;
using System.Globalization;
using System.Net;
using HttpServerSample;
using Kevents;
using Kevents.Http;
using Kevents.Net;
using Kevents.Samples;
using Microsoft.Extensions.Logging;

// HTTP/1.1 server on Kevents.Http with the TechEmpower /plaintext and /json routes.
// `dotnet run --project samples/HttpServer -c Release`, then `wrk -t1 -c64 http://127.0.0.1:8080/plaintext`.
Option<int> portOption = SampleOptions.Port(8080, "TCP port (0 picks a free port)");
Option<IPAddress> bindOption = SampleOptions.Bind("IP address to bind (use 0.0.0.0 or :: for all interfaces)");
Option<int> loopsOption = SampleOptions.Loops();
Option<string> backendOption = SampleOptions.Backend();
Option<string> distributionOption = SampleOptions.Distribution();
var commandLine = new SampleCommand("HttpServer",
    "HTTP/1.1 server on Kevents: /plaintext and /json as the TechEmpower benchmarks define them, and / with a short page. " +
    "Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.",
    portOption, bindOption, loopsOption, distributionOption, backendOption);
if (!commandLine.TryParse(args, out ParseResult parsed, out int exitCode))
{
    return exitCode;
}
int port = parsed.GetValue(portOption);
IPAddress bind = parsed.GetValue(bindOption)!;
int loopCount = parsed.GetValue(loopsOption);
LoopDistribution distribution = SampleOptions.ParseDistribution(parsed.GetValue(distributionOption)!);
LoopBackend backend = SampleOptions.ParseBackend(parsed.GetValue(backendOption)!);

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("HttpServer");
var started = System.Diagnostics.Stopwatch.StartNew();

if (loopCount > 1)
{
    return RunGroup();
}

using var loop = new EventLoop(new EventLoopOptions { LoggerFactory = loggerFactory, Name = "http", Backend = backend });
HttpServer server;
try
{
    server = loop.ListenHttp(new IPEndPoint(bind, port), Routes.Handle);
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
{
    Log.StartFailed(logger, ex.Message);
    return 1;
}
Log.Listening(logger, server.LocalEndPoint.ToString()!);
// SIGINT and SIGTERM arrive as kevents, so shutdown runs on the loop thread like everything else.
StopSignals.Register(loop, signal =>
{
    Log.Stopping(logger, signal);
    server.ShutdownAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
});
loop.Run();
Console.WriteLine(Summary([server], server.TotalAccepted.ToString(CultureInfo.InvariantCulture)));
server.Dispose();
return 0;

// --loops N: one HttpServer per loop behind one group listener, spread by --distribution.
int RunGroup()
{
    using var group = new EventLoopGroup(new EventLoopGroupOptions
    {
        LoopCount = loopCount,
        PinToCpus = distribution == LoopDistribution.ReusePortCpu,
        LoggerFactory = loggerFactory,
        Backend = backend,
    });
    HttpServerGroup servers;
    try
    {
        servers = group.ListenHttp(new IPEndPoint(bind, port), Routes.Handle, distribution: distribution);
    }
    catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ArgumentException)
    {
        Log.StartFailed(logger, ex.Message);
        return 1;
    }
    StopSignals.Register(group.Loops[0], signal =>
    {
        Log.Stopping(logger, signal);
        // Off the loop thread: stopping the group's listener waits for every loop, and a loop must not wait for another.
        Task.Run(async () =>
        {
            await servers.ShutdownAsync(TimeSpan.FromSeconds(10));
            group.Stop();
        });
    });
    Log.Listening(logger, servers.LocalEndPoint.ToString()!);
    Log.Loops(logger, loopCount, SampleOptions.DistributionName(distribution));
    group.Start();
    group.Completion.GetAwaiter().GetResult();
    Console.WriteLine(Summary(servers.Servers, string.Join("/", servers.AcceptedCounts())));
    servers.Dispose();
    return 0;
}

string Summary(IReadOnlyList<HttpServer> all, string perLoop) => string.Create(CultureInfo.InvariantCulture,
    $"HttpServer: {all.Sum(s => s.Requests)} requests ({all.Sum(s => s.SuccessResponses)} ok, " +
    $"{all.Sum(s => s.ClientErrorResponses)} client errors, {all.Sum(s => s.ServerErrorResponses)} server errors), " +
    $"{all.Sum(s => s.TotalAccepted)} connections, up {started.Elapsed.TotalSeconds:F1} s, connections per loop: {perLoop}");
