// Peer for the HTTP comparison: an ASP.NET Core minimal API on Kestrel answering /plaintext the way the
// TechEmpower plaintext test asks (text/plain "Hello, World!", with Kestrel's own Server and Date headers).
// It listens on 127.0.0.1 only, logs nothing below warnings and keeps Kestrel's defaults otherwise, so it
// uses every core the machine has (one socket I/O queue per core), as it would in production.
using System.Net;

if (args.Length != 1 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: KestrelPlaintext PORT");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));

await using var app = builder.Build();
// Results.Text writes the body with its Content-Length, so pipelined responses are not chunked.
app.MapGet("/plaintext", () => Results.Text("Hello, World!", "text/plain"));
await app.RunAsync();
return 0;
