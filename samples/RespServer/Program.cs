using System.CommandLine;
using System.Globalization;
using System.Net;
using Kevents;
using Kevents.Samples;
using Microsoft.Extensions.Logging;
using RespServer;

// A Redis-protocol (RESP2) server on one Kevents loop. `dotnet run --project samples/RespServer -c Release` serves
// 127.0.0.1:6379; try it with `redis-cli -p 6379`.
Option<int> portOption = SampleOptions.Port(6379, "TCP port (0 picks a free port)");
Option<IPAddress> bindOption = SampleOptions.Bind("IP address to bind (use 0.0.0.0 or :: for all interfaces)");
Option<int> maxClientsOption = SampleOptions.Int("--max-clients", 10_000, 1, int.MaxValue, "N",
    "client limit (capped at the fd limit - 32); one more is told '-ERR max number of clients reached' and closed");
Option<int> maxQueryBufferOption = SampleOptions.Int("--max-query-buffer", 1024 * 1024 * 1024, 1024, int.MaxValue, "BYTES",
    "most unparsed bytes held for one client (Redis' client-query-buffer-limit); over it the client is closed");
Option<string> backendOption = SampleOptions.Backend();
Option<double> timeoutOption = SampleOptions.Seconds("--timeout", 0, "close clients idle this long (0 never, as in Redis)");
// No spinning by default: on a machine whose cores the clients share, the spin was about a sixth of the server's CPU
// at redis-benchmark -P 1 and took that time from the clients; it only pays for one client's latency on idle cores.
Option<int> spinOption = SampleOptions.Int("--spin-us", 0, 0, 1_000_000, "N",
    "while lightly loaded, poll this many microseconds before blocking in epoll_wait (0, the default, never spins)");
var commandLine = new SampleCommand("RespServer",
    "Redis-protocol (RESP2) key-value server on one Kevents loop: strings, counters, expiry, KEYS/SCAN, INFO. " +
    "Keys live in memory on the loop. Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.",
    portOption, bindOption, maxClientsOption, maxQueryBufferOption, timeoutOption, spinOption, backendOption);
if (!commandLine.TryParse(args, out ParseResult parsed, out int exitCode))
{
    return exitCode;
}
double timeoutSeconds = parsed.GetValue(timeoutOption);
var options = new RespServerOptions
{
    MaxClients = parsed.GetValue(maxClientsOption),
    MaxQueryBuffer = parsed.GetValue(maxQueryBufferOption),
    IdleTimeout = timeoutSeconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(timeoutSeconds),
};

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("RespServer");

using var loop = new EventLoop(new EventLoopOptions
{
    LoggerFactory = loggerFactory,
    Name = "resp",
    Backend = SampleOptions.ParseBackend(parsed.GetValue(backendOption)!),
    SpinBeforeSleep = TimeSpan.FromMicroseconds(parsed.GetValue(spinOption)),
});
KeyValueServer server;
try
{
    server = KeyValueServer.Start(loop, new IPEndPoint(parsed.GetValue(bindOption)!, parsed.GetValue(portOption)), options, logger);
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ArgumentException)
{
    logger.LogError("{Message}", ex.Message);
    return 1;
}

// SIGINT and SIGTERM arrive as kevents, so shutdown runs on the loop thread like everything else.
StopSignals.Register(loop, signal =>
{
    logger.LogInformation("{Signal} received; draining connections", signal);
    server.ShutdownAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
});

loop.Run();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"RespServer: {server.CommandsProcessed} commands, {server.ConnectionsReceived} connections served, " +
    $"{server.Server?.TotalRejected ?? 0} refused, {server.Keys.Count} keys at exit, {server.Keys.ExpiredKeys} expired, " +
    $"up {server.Uptime.TotalSeconds:F1} s, {loop.Iterations} loop turns"));
server.Dispose();
return 0;
