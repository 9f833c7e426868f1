using System.Net;
using EchoServer;
using Kevents;
using Microsoft.Extensions.Logging;

// TCP echo server on Kevents. `dotnet run --project samples/EchoServer -c Release` serves 127.0.0.1:7000.
const string Usage = """
    Usage: EchoServer [--port N] [--bind ADDRESS]
      --port N         TCP port to listen on (default 7000; 0 picks a free port)
      --bind ADDRESS   IP address to bind (default 127.0.0.1)
      --help           show this text
    Stops cleanly on Ctrl+C or SIGTERM.
    """;

int port = 7000;
IPAddress bind = IPAddress.Loopback;
for (int i = 0; i < args.Length; i++)
{
    string arg = args[i];
    string? value = i + 1 < args.Length ? args[i + 1] : null;
    switch (arg)
    {
        case "--help" or "-h":
            Console.WriteLine(Usage);
            return 0;
        case "--port" when value is not null && int.TryParse(value, out int p) && p is >= 0 and <= 65535:
            port = p;
            i++;
            break;
        case "--bind" when value is not null && IPAddress.TryParse(value, out IPAddress? address):
            bind = address;
            i++;
            break;
        default:
            Console.Error.WriteLine($"EchoServer: bad or incomplete option '{arg}'.");
            Console.Error.WriteLine(Usage);
            return 2;
    }
}

using ILoggerFactory loggerFactory = LoggerFactory.Create(builder => builder
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
    .SetMinimumLevel(LogLevel.Information));
ILogger logger = loggerFactory.CreateLogger("EchoServer");

using var loop = new EventLoop(new EventLoopOptions { LoggerFactory = loggerFactory, Name = "echo" });
using var server = new RawEchoServer(loop, logger);
try
{
    server.Start(new IPEndPoint(bind, port));
}
catch (IOException ex)
{
    logger.LogError("{Message}", ex.Message);
    return 1;
}

// Signals arrive as kevents, so shutdown happens on the loop thread like everything else.
KeventHandler stop = (in Kevent ev) =>
{
    logger.LogInformation("Signal {Signal} received; stopping", ev.Ident);
    loop.Stop();
};
loop.Register(Kevent.Signal(2), stop);   // SIGINT (Ctrl+C)
loop.Register(Kevent.Signal(15), stop);  // SIGTERM

logger.LogInformation("Echo server listening on {EndPoint}", server.LocalEndPoint);
loop.Run();
logger.LogInformation("Stopped: {Accepted} connections served, {Open} still open at shutdown", server.Accepted, server.ConnectionCount);
return 0;
