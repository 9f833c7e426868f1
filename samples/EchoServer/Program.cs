using System.Net;
using EchoServer;
using Kevents;
using Kevents.Net;
using Microsoft.Extensions.Logging;

// TCP echo server on Kevents. `dotnet run --project samples/EchoServer -c Release` serves 127.0.0.1:7000.
const string Usage = """
    Usage: EchoServer [options]
      --port N               TCP port (default 7000; 0 picks a free port)
      --bind ADDRESS         IP address to bind (default 127.0.0.1; use :: or ::1 for IPv6)
      --unix PATH            listen on a Unix domain socket instead of TCP
      --max-connections N    connection limit (default 10000, capped at the fd limit - 32)
      --idle-timeout SEC     close connections idle this long (default 75; 0 disables)
      --api stream|pipe|kevents
                             stream: Kevents.Net's low-level API (default, fastest)
                             pipe: connections as System.IO.Pipelines duplex pipes
                             kevents: raw Read/Write kevents on the bare loop
      --spin-us N            while lightly loaded, poll this many microseconds before blocking in epoll_wait
                             (default 50: a wake-up from a blocking wait costs tens of microseconds; 0 never spins)
      --help                 show this text
    Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.
    """;

int port = 7000;
IPAddress bind = IPAddress.Loopback;
string? unixPath = null;
int maxConnections = 10_000;
double idleSeconds = 75;
string api = "stream";
int spinMicroseconds = 50;
for (int i = 0; i < args.Length; i++)
{
    string arg = args[i];
    string? value = i + 1 < args.Length ? args[i + 1] : null;
    bool ok = true;
    switch (arg)
    {
        case "--help" or "-h":
            Console.WriteLine(Usage);
            return 0;
        case "--port":
            ok = int.TryParse(value, out port) && port is >= 0 and <= 65535;
            break;
        case "--bind":
            ok = IPAddress.TryParse(value, out bind!);
            break;
        case "--unix":
            ok = !string.IsNullOrEmpty(value);
            unixPath = value;
            break;
        case "--max-connections":
            ok = int.TryParse(value, out maxConnections) && maxConnections > 0;
            break;
        case "--idle-timeout":
            ok = double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out idleSeconds) && idleSeconds >= 0;
            break;
        case "--api":
            ok = value is "stream" or "pipe" or "kevents";
            api = value ?? api;
            break;
        case "--spin-us":
            ok = int.TryParse(value, out spinMicroseconds) && spinMicroseconds >= 0;
            break;
        default:
            ok = false;
            value = null;
            break;
    }
    if (!ok)
    {
        Console.Error.WriteLine(value is null && !arg.StartsWith("--", StringComparison.Ordinal) || value is null
            ? $"EchoServer: unknown or incomplete option '{arg}'."
            : $"EchoServer: bad value '{value}' for {arg}.");
        Console.Error.WriteLine(Usage);
        return 2;
    }
    i++;
}

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
        if (unixPath is not null)
        {
            Console.Error.WriteLine("EchoServer: --api kevents serves TCP only.");
            return 2;
        }
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

// Signals arrive as kevents, so shutdown happens on the loop thread like everything else.
KeventHandler stop = (in Kevent ev) =>
{
    logger.LogInformation("Signal {Signal} received; draining connections", ev.Ident);
    if (server is null)
    {
        loop.Stop();
        return;
    }
    server.ShutdownAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
};
loop.Register(Kevent.Signal(2), stop);   // SIGINT (Ctrl+C)
loop.Register(Kevent.Signal(15), stop);  // SIGTERM

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
return 0;
