// Peer for the echo comparison: Kestrel's connection-level API (Pipelines over the Sockets
// transport) with no HTTP in the way. It listens on 127.0.0.1 only, logs nothing below
// warnings, and uses a single transport I/O queue by default so that, like the other peers,
// one thread does the socket work (KESTREL_IO_QUEUES overrides it).
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

if (args.Length != 1 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: KestrelEcho PORT");
    return 2;
}

int ioQueues = int.TryParse(Environment.GetEnvironmentVariable("KESTREL_IO_QUEUES"), out int q) && q > 0 ? q : 1;

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseSockets(o =>
{
    o.IOQueueCount = ioQueues;
    o.Backlog = 4096;
});
builder.WebHost.UseKestrel(o =>
{
    o.AddServerHeader = false;
    o.Listen(IPAddress.Loopback, port, l => l.UseConnectionHandler<EchoHandler>());
});

await using var app = builder.Build();
await app.RunAsync();
return 0;

sealed class EchoHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        while (true)
        {
            ReadResult read = await input.ReadAsync();
            ReadOnlySequence<byte> data = read.Buffer;
            foreach (ReadOnlyMemory<byte> segment in data)
                output.Write(segment.Span);
            input.AdvanceTo(data.End);

            if (read.IsCompleted || read.IsCanceled)
                break;
            FlushResult flushed = await output.FlushAsync();
            if (flushed.IsCompleted || flushed.IsCanceled)
                break;
        }
    }
}
