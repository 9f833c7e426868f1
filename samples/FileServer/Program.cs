using System.Globalization;
using System.Net;
using FileServer;
using Kevents;
using Microsoft.Extensions.Logging;

// HTTP/1.1 static file server on Kevents. `dotnet run --project samples/FileServer -c Release -- --root ./site`.
const string Usage = """
    Usage: FileServer [options]
      --root DIR             directory to serve (default: the current directory)
      --port N               TCP port (default 8080; 0 picks a free port)
      --bind ADDRESS         IP address to bind (default 127.0.0.1; use 0.0.0.0 or :: for all interfaces)
      --header-timeout SEC   time allowed for a request head, from its first byte (default 30)
      --idle-timeout SEC     close keep-alive connections idle this long (default 75)
      --max-connections N    connection limit (default 10000, capped at half of what the fd limit leaves
                             after a reserve of 5% (16..256): each download holds a socket and a file)
      --verbose              log client errors (Debug level)
      --help                 show this text
    Serves GET and HEAD with keep-alive and byte ranges; never serves a file outside the root.
    Stops cleanly on Ctrl+C or SIGTERM and prints a one-line summary.
    """;

var options = new FileServerOptions();
int port = 8080;
IPAddress bind = IPAddress.Loopback;
bool verbose = false;
for (int i = 0; i < args.Length; i++)
{
    string arg = args[i];
    string? value = i + 1 < args.Length ? args[i + 1] : null;
    bool ok = true;
    bool takesValue = true;
    switch (arg)
    {
        case "--help" or "-h":
            Console.WriteLine(Usage);
            return 0;
        case "--verbose":
            verbose = true;
            takesValue = false;
            break;
        case "--root":
            ok = !string.IsNullOrEmpty(value);
            options.Root = value ?? options.Root;
            break;
        case "--port":
            ok = int.TryParse(value, out port) && port is >= 0 and <= 65535;
            break;
        case "--bind":
            ok = IPAddress.TryParse(value, out bind!);
            break;
        case "--header-timeout":
            ok = double.TryParse(value, CultureInfo.InvariantCulture, out double headerSeconds) && headerSeconds > 0;
            options.HeaderTimeout = ok ? TimeSpan.FromSeconds(headerSeconds) : options.HeaderTimeout;
            break;
        case "--idle-timeout":
            ok = double.TryParse(value, CultureInfo.InvariantCulture, out double idleSeconds) && idleSeconds > 0;
            options.IdleTimeout = ok ? TimeSpan.FromSeconds(idleSeconds) : options.IdleTimeout;
            break;
        case "--max-connections":
            ok = int.TryParse(value, out int maxConnections) && maxConnections > 0;
            options.MaxConnections = ok ? maxConnections : options.MaxConnections;
            break;
        default:
            Console.Error.WriteLine($"FileServer: unknown option '{arg}'.");
            Console.Error.WriteLine(Usage);
            return 2;
    }
    if (!ok)
    {
        Console.Error.WriteLine(value is null ? $"FileServer: {arg} needs a value." : $"FileServer: bad value '{value}' for {arg}.");
        Console.Error.WriteLine(Usage);
        return 2;
    }
    if (takesValue)
    {
        i++;
    }
}

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("FileServer");

using var loop = new EventLoop(new EventLoopOptions { LoggerFactory = loggerFactory, Name = "fileserver" });
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

// Signals arrive as kevents, so shutdown runs on the loop thread like everything else.
KeventHandler stop = (in Kevent ev) =>
{
    logger.LogInformation("Signal {Signal} received; finishing responses in flight", ev.Ident);
    server.ShutdownAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => loop.Stop(), TaskScheduler.Default);
};
loop.Register(Kevent.Signal(2), stop);   // SIGINT (Ctrl+C)
loop.Register(Kevent.Signal(15), stop);  // SIGTERM

var started = System.Diagnostics.Stopwatch.StartNew();
loop.Run();
FileServerStats stats = server.Stats;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"FileServer: {stats.Requests} requests ({stats.Success} ok, {stats.ClientErrors} client errors, {stats.ServerErrors} server errors), " +
    $"{stats.BodyBytes / (1024.0 * 1024.0):F1} MiB of bodies, {server.TotalAccepted} connections, {stats.AbortedResponses} aborted downloads, " +
    $"up {started.Elapsed.TotalSeconds:F1} s"));
server.Dispose();
return 0;
