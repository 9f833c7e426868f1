using System.Text;
using HttpServerSample;
using Kevents.Http;

namespace Kevents.Http.Tests;

/// <summary>
/// The handler the tests talk to: the sample's routes, plus /echo (reads the body as it streams and sends it back),
/// /ignore (answers without reading the body), /slow (awaits before answering), /throw, /file (a sendfile body) and
/// /headers (echoes what the parser saw).
/// </summary>
internal static class TestRoutes
{
    public static string FilePath { get; set; } = "";

    public static ValueTask Handle(HttpRequest request, HttpResponse response)
    {
        ReadOnlySpan<byte> path = request.PathBytes;
        if (path.SequenceEqual("/echo"u8))
        {
            return EchoAsync(request, response);
        }
        if (path.SequenceEqual("/ignore"u8))
        {
            response.Write("ignored"u8);
            return default;
        }
        if (path.SequenceEqual("/slow"u8))
        {
            return SlowAsync(request, response);
        }
        if (path.SequenceEqual("/throw"u8))
        {
            throw new InvalidOperationException("the test handler throws");
        }
        if (path.SequenceEqual("/file"u8))
        {
            int rc = FileDescriptor.Open(FilePath, FileOpenFlags.ReadOnly, out FileDescriptor? file);
            if (rc < 0)
            {
                response.StatusCode = 404;
                return default;
            }
            file!.Stat(out FileStatus status);
            response.AddHeader("Content-Type"u8, "application/octet-stream"u8);
            response.SendFile(file, 0, status.Length);
            return default;
        }
        if (path.SequenceEqual("/headers"u8))
        {
            var text = new StringBuilder();
            text.Append(request.Method).Append(' ').Append(request.Target).Append(' ').Append(request.Version).Append('\n');
            for (int i = 0; i < request.HeaderCount; i++)
            {
                text.Append(Encoding.Latin1.GetString(request.GetHeaderName(i))).Append('=').Append(Encoding.Latin1.GetString(request.GetHeaderValue(i))).Append('\n');
            }
            response.Write(text.ToString());
            return default;
        }
        return Routes.Handle(request, response);
    }

    private static async ValueTask EchoAsync(HttpRequest request, HttpResponse response)
    {
        var body = new MemoryStream();
        while (true)
        {
            ReadOnlyMemory<byte> piece = await request.ReadBodyAsync();
            if (piece.IsEmpty)
            {
                break;
            }
            body.Write(piece.Span);
        }
        response.AddHeader("Content-Type"u8, "application/octet-stream"u8);
        response.Write(body.ToArray());
    }

    private static async ValueTask SlowAsync(HttpRequest request, HttpResponse response)
    {
        string? delay = request.GetHeader("X-Delay");
        await Task.Delay(delay is null ? 50 : int.Parse(delay, System.Globalization.CultureInfo.InvariantCulture));
        response.Write("slow"u8);
    }
}
