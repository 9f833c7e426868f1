using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Kevents.Net;
using Microsoft.Extensions.Diagnostics.HealthChecks;

/// <summary>
/// A small HTTP/1.1 endpoint for probes: <c>GET /healthz</c> answers 200 when every check is healthy and 503
/// otherwise (Kubernetes' readiness probe, HAProxy's <c>option httpchk</c>), then closes. Anything else gets 404,
/// 405 or 400; a request head above 8 KiB gets 431. One request per connection, as probes send.
/// </summary>
internal sealed class HealthEndpoint
{
    private const int MaxHead = 8 * 1024;

    public HealthCheckService? Checks { get; set; }

    public async Task ServeAsync(PipeConnection connection)
    {
        PipeReader input = connection.Input;
        string? requestLine = null;
        while (requestLine is null)
        {
            ReadResult read = await input.ReadAsync();
            ReadOnlySequence<byte> buffer = read.Buffer;
            SequencePosition? end = Find(buffer, "\r\n\r\n"u8);
            if (end is null)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                if (buffer.Length > MaxHead)
                {
                    await RespondAsync(connection, 431, "Request Header Fields Too Large", "request head above 8 KiB\n");
                    return;
                }
                if (read.IsCompleted)
                {
                    return;
                }
                continue;
            }
            string head = Encoding.ASCII.GetString(buffer.Slice(0, end.Value));
            input.AdvanceTo(end.Value);
            requestLine = head.Split("\r\n", 2)[0];
        }

        string[] parts = requestLine.Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            await RespondAsync(connection, 400, "Bad Request", "expected: GET /healthz HTTP/1.1\n");
        }
        else if (parts[1] != "/healthz")
        {
            await RespondAsync(connection, 404, "Not Found", "the only path here is /healthz\n");
        }
        else if (parts[0] is not ("GET" or "HEAD"))
        {
            await RespondAsync(connection, 405, "Method Not Allowed", "use GET\n");
        }
        else
        {
            HealthReport report = await Checks!.CheckHealthAsync(connection.ConnectionClosed);
            var body = new StringBuilder($"{report.Status}\n");
            foreach ((string name, HealthReportEntry entry) in report.Entries)
            {
                body.Append(name).Append(": ").Append(entry.Status).Append(" - ").Append(entry.Description).Append('\n');
            }
            bool healthy = report.Status == HealthStatus.Healthy;
            await RespondAsync(connection, healthy ? 200 : 503, healthy ? "OK" : "Service Unavailable", parts[0] == "HEAD" ? "" : body.ToString());
        }
    }

    private static async Task RespondAsync(PipeConnection connection, int status, string reason, string body)
    {
        string response = $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
        await connection.Output.WriteAsync(Encoding.UTF8.GetBytes(response));
        await connection.Output.CompleteAsync();
    }

    private static SequencePosition? Find(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> delimiter)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, delimiter, advancePastDelimiter: true) ? reader.Position : null;
    }
}
