using System.Buffers.Text;

namespace Kevents.Http;

/// <summary>
/// Writes a response head (status line and header fields) as ASCII into a caller's buffer, allocating nothing. For
/// servers that send their own responses; <see cref="HttpResponse"/> uses it. The buffer must be large enough:
/// nothing is checked beyond the span's own bounds.
/// </summary>
public ref struct HttpHeadWriter
{
    private readonly Span<byte> _buffer;
    private int _length;

    /// <summary>Starts writing at the beginning of <paramref name="buffer"/>.</summary>
    public HttpHeadWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _length = 0;
    }

    /// <summary>Bytes written so far.</summary>
    public readonly int Length => _length;

    /// <summary>Writes "HTTP/1.1 {status} {reason}" and the <c>Server: Kevents</c> field.</summary>
    public void StatusLine(int status)
    {
        Append("HTTP/1.1 "u8);
        Number(status);
        Append(" "u8);
        Append(Reason(status));
        Append("\r\nServer: Kevents\r\n"u8);
    }

    /// <summary>Writes one header field.</summary>
    public void Header(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Append(name);
        Append(": "u8);
        Append(value);
        Append("\r\n"u8);
    }

    /// <summary>Writes one header field with a decimal value.</summary>
    public void Header(ReadOnlySpan<byte> name, long value)
    {
        Append(name);
        Append(": "u8);
        Number(value);
        Append("\r\n"u8);
    }

    /// <summary>Writes the <c>Date</c> field for the current second (cached per loop thread, refreshed each second).</summary>
    public void Date()
    {
        Append(HttpDate.Current());
    }

    /// <summary>Writes <c>Last-Modified</c> in the IMF-fixdate form.</summary>
    public void LastModified(DateTimeOffset time)
    {
        Append("Last-Modified: "u8);
        time.UtcDateTime.TryFormat(_buffer[_length..], out int written, "R");
        _length += written;
        Append("\r\n"u8);
    }

    /// <summary>Writes <c>Content-Range: bytes start-end/total</c>.</summary>
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

    /// <summary>Writes <c>Content-Range: bytes */total</c> (the answer to an unsatisfiable range).</summary>
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

    /// <summary>Appends raw bytes.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buffer[_length..]);
        _length += bytes.Length;
    }

    /// <summary>Appends a decimal number.</summary>
    public void Number(long value)
    {
        Utf8Formatter.TryFormat(value, _buffer[_length..], out int written);
        _length += written;
    }

    /// <summary>The reason phrase for <paramref name="status"/> ("Unknown" for codes this layer does not name).</summary>
    public static ReadOnlySpan<byte> Reason(int status) => status switch
    {
        100 => "Continue"u8,
        200 => "OK"u8,
        201 => "Created"u8,
        202 => "Accepted"u8,
        204 => "No Content"u8,
        206 => "Partial Content"u8,
        301 => "Moved Permanently"u8,
        302 => "Found"u8,
        304 => "Not Modified"u8,
        400 => "Bad Request"u8,
        401 => "Unauthorized"u8,
        403 => "Forbidden"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        408 => "Request Timeout"u8,
        409 => "Conflict"u8,
        411 => "Length Required"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        416 => "Range Not Satisfiable"u8,
        417 => "Expectation Failed"u8,
        431 => "Request Header Fields Too Large"u8,
        500 => "Internal Server Error"u8,
        501 => "Not Implemented"u8,
        502 => "Bad Gateway"u8,
        503 => "Service Unavailable"u8,
        505 => "HTTP Version Not Supported"u8,
        _ => "Unknown"u8,
    };
}
