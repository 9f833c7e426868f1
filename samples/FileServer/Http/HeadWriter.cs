using System.Buffers.Text;

namespace FileServer.Http;

/// <summary>Writes a response head (status line and header fields) as ASCII into a caller's buffer, allocating nothing.</summary>
internal ref struct HeadWriter
{
    private readonly Span<byte> _buffer;
    private int _length;

    public HeadWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _length = 0;
    }

    public readonly int Length => _length;

    public void StatusLine(int status)
    {
        Append("HTTP/1.1 "u8);
        Number(status);
        Append(" "u8);
        Append(Reason(status));
        Append("\r\nServer: Kevents\r\n"u8);
    }

    public void Header(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Append(name);
        Append(": "u8);
        Append(value);
        Append("\r\n"u8);
    }

    public void Header(ReadOnlySpan<byte> name, long value)
    {
        Append(name);
        Append(": "u8);
        Number(value);
        Append("\r\n"u8);
    }

    public void LastModified(DateTimeOffset time)
    {
        Append("Last-Modified: "u8);
        time.UtcDateTime.TryFormat(_buffer[_length..], out int written, "R");
        _length += written;
        Append("\r\n"u8);
    }

    public void ContentRange(long start, long count, long total)
    {
        Append("Content-Range: bytes "u8);
        Number(start);
        Append("-"u8);
        Number(start + count - 1);
        Append("/"u8);
        Number(total);
        Append("\r\n"u8);
    }

    public void UnsatisfiedRange(long total)
    {
        Append("Content-Range: bytes */"u8);
        Number(total);
        Append("\r\n"u8);
    }

    /// <summary>
    /// Ends the head. HTTP/1.1 keeps a connection open unless told otherwise; an HTTP/1.0 client assumes it closes
    /// unless the response says keep-alive (RFC 9112 9.3), so <paramref name="http10"/> spells it out.
    /// </summary>
    public void End(bool keepAlive, bool http10 = false)
    {
        Append(!keepAlive ? "Connection: close\r\n\r\n"u8 : http10 ? "Connection: keep-alive\r\n\r\n"u8 : "\r\n"u8);
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer[_length..]);
        _length += bytes.Length;
    }

    public void Number(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer[_length..], out int written);
        _length += written;
    }

    public static ReadOnlySpan<byte> Reason(int status) => status switch
    {
        200 => "OK"u8,
        206 => "Partial Content"u8,
        400 => "Bad Request"u8,
        403 => "Forbidden"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        408 => "Request Timeout"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        416 => "Range Not Satisfiable"u8,
        431 => "Request Header Fields Too Large"u8,
        500 => "Internal Server Error"u8,
        501 => "Not Implemented"u8,
        503 => "Service Unavailable"u8,
        505 => "HTTP Version Not Supported"u8,
        _ => "Unknown"u8,
    };
}
