using System.Buffers;
using System.Text;

namespace Kevents.Http;

/// <summary>
/// The response to one request, filled by the handler: status, header fields, and a body written into it (it is an
/// <see cref="IBufferWriter{T}"/>, so a <c>Utf8JsonWriter</c> can write straight into it) or a file sent with
/// sendfile. The server adds <c>Server</c>, <c>Date</c>, <c>Content-Length</c> and, when needed, <c>Connection</c>,
/// and sends the response when the handler's task completes. The object is reused for the connection's next request.
/// Loop thread only.
/// </summary>
public sealed class HttpResponse : IBufferWriter<byte>
{
    private byte[] _headers = new byte[256];
    private int _headersLength;
    private byte[] _body = new byte[512];
    private int _bodyLength;

    internal HttpResponse()
    {
    }

    /// <summary>The status code. Default 200.</summary>
    public int StatusCode { get; set; } = 200;

    /// <summary>Set to close the connection after this response (<c>Connection: close</c> is sent).</summary>
    public bool CloseConnection { get; set; }

    /// <summary>Body bytes written so far.</summary>
    public int BodyLength => _bodyLength;

    internal ReadOnlySpan<byte> HeaderBytes => _headers.AsSpan(0, _headersLength);

    internal ReadOnlySpan<byte> Body => _body.AsSpan(0, _bodyLength);

    internal FileDescriptor? File { get; private set; }

    internal long FileOffset { get; private set; }

    internal long FileCount { get; private set; }

    internal bool OwnsFile { get; private set; }

    /// <summary>Adds a header field. The name must be a token and the value must hold no CR, LF or NUL.</summary>
    /// <exception cref="ArgumentException">The name or value would break the response's framing.</exception>
    public void AddHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.IsEmpty || name.IndexOfAny(" \t\r\n:\0"u8) >= 0)
        {
            throw new ArgumentException("A header name must be a non-empty token (no spaces, colons or control characters).", nameof(name));
        }
        if (value.IndexOfAny("\r\n\0"u8) >= 0)
        {
            throw new ArgumentException("A header value must not contain CR, LF or NUL: they would split the response.", nameof(value));
        }
        int needed = _headersLength + name.Length + value.Length + 4;
        if (needed > _headers.Length)
        {
            Array.Resize(ref _headers, Math.Max(needed, _headers.Length * 2));
        }
        name.CopyTo(_headers.AsSpan(_headersLength));
        _headersLength += name.Length;
        ": "u8.CopyTo(_headers.AsSpan(_headersLength));
        _headersLength += 2;
        value.CopyTo(_headers.AsSpan(_headersLength));
        _headersLength += value.Length;
        "\r\n"u8.CopyTo(_headers.AsSpan(_headersLength));
        _headersLength += 2;
    }

    /// <summary>Adds a header field given as strings (Latin-1).</summary>
    /// <exception cref="ArgumentException">The name or value would break the response's framing.</exception>
    public void AddHeader(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        AddHeader(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value));
    }

    /// <summary>Appends <paramref name="data"/> to the body.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        data.CopyTo(GetSpan(data.Length));
        _bodyLength += data.Length;
    }

    /// <summary>Appends <paramref name="text"/> to the body as UTF-8.</summary>
    public void Write(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        _bodyLength += Encoding.UTF8.GetBytes(text, GetSpan(max));
    }

    /// <summary>
    /// Sends <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/> as the body, by
    /// sendfile (from the page cache to the socket, no copy through the process). Replaces any body written. With
    /// <paramref name="ownsFile"/> the server disposes the file once sent (or when the connection closes).
    /// </summary>
    public void SendFile(FileDescriptor file, long offset, long count, bool ownsFile = true)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ReleaseFile();
        _bodyLength = 0;
        File = file;
        FileOffset = offset;
        FileCount = count;
        OwnsFile = ownsFile;
    }

    /// <inheritdoc/>
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (_bodyLength + count > _body.Length)
        {
            throw new InvalidOperationException("Advanced past the memory returned by GetSpan/GetMemory.");
        }
        _bodyLength += count;
    }

    /// <inheritdoc/>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _body.AsMemory(_bodyLength);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _body.AsSpan(_bodyLength);
    }

    private void Reserve(int sizeHint)
    {
        int needed = _bodyLength + Math.Max(sizeHint, 1);
        if (needed > _body.Length)
        {
            Array.Resize(ref _body, Math.Max(needed, _body.Length * 2));
        }
    }

    /// <summary>Hands the file to the connection (which now disposes it if owned) and forgets it here.</summary>
    internal void DetachFile()
    {
        File = null;
        OwnsFile = false;
    }

    internal void Reset()
    {
        StatusCode = 200;
        CloseConnection = false;
        _headersLength = 0;
        _bodyLength = 0;
        ReleaseFile();
        if (_body.Length > 64 * 1024)
        {
            _body = new byte[512]; // a large body once should not pin its buffer for the connection's life
        }
    }

    internal void ReleaseFile()
    {
        if (OwnsFile)
        {
            File?.Dispose();
        }
        File = null;
        OwnsFile = false;
        FileCount = 0;
    }
}
