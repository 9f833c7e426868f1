using System.Text;

namespace Kevents.Http;

/// <summary>
/// A parsed request: its head (method, target, version, header fields) and, on a server connection, its body as it
/// arrives (<see cref="ReadBodyAsync"/>). The object is reused for the connection's next request once the handler's
/// task completes: do not keep it, or spans taken from it, beyond that.
/// </summary>
public sealed class HttpRequest
{
    private byte[] _head = new byte[256];
    private (int NameStart, int NameLength, int ValueStart, int ValueLength)[] _headers = new (int, int, int, int)[16];
    private int _targetStart;
    private int _targetLength;
    private string? _target;

    internal HttpRequest()
    {
    }

    internal IHttpBodySource? BodySource { get; set; }

    /// <summary>The method as sent (case-sensitive, as RFC 9110 says); the common ones are shared strings.</summary>
    public string Method { get; internal set; } = "";

    /// <summary>The request target as sent, still percent-encoded, as bytes (no allocation).</summary>
    public ReadOnlySpan<byte> TargetBytes => _head.AsSpan(_targetStart, _targetLength);

    /// <summary>The request target as sent, still percent-encoded (made on first use, then kept for this request).</summary>
    public string Target => _target ??= Encoding.ASCII.GetString(TargetBytes);

    /// <summary>The target up to its query ('?') or fragment ('#'), still percent-encoded, as bytes.</summary>
    public ReadOnlySpan<byte> PathBytes
    {
        get
        {
            ReadOnlySpan<byte> target = TargetBytes;
            int end = target.IndexOfAny((byte)'?', (byte)'#');
            return end < 0 ? target : target[..end];
        }
    }

    /// <summary>10 for HTTP/1.0, 11 for HTTP/1.1.</summary>
    public int Version { get; internal set; }

    /// <summary>Content-Length, or -1 when absent.</summary>
    public long ContentLength { get; internal set; } = -1;

    /// <summary>True when the body comes with Transfer-Encoding: chunked.</summary>
    public bool IsChunked { get; internal set; }

    /// <summary>True when the client sent <c>Expect: 100-continue</c> with a body and waits before sending it.</summary>
    public bool ExpectContinue { get; internal set; }

    /// <summary>Whether the client lets the connection stay open (the version's default, then the Connection header).</summary>
    public bool KeepAlive { get; internal set; }

    /// <summary>Number of header fields.</summary>
    public int HeaderCount { get; private set; }

    /// <summary>True when a body follows the head.</summary>
    public bool HasBody => ContentLength > 0 || IsChunked;

    /// <summary>The name of header field <paramref name="index"/> (0 to <see cref="HeaderCount"/> - 1), as sent.</summary>
    public ReadOnlySpan<byte> GetHeaderName(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)HeaderCount, nameof(index));
        return _head.AsSpan(_headers[index].NameStart, _headers[index].NameLength);
    }

    /// <summary>The value of header field <paramref name="index"/>, without surrounding whitespace.</summary>
    public ReadOnlySpan<byte> GetHeaderValue(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)HeaderCount, nameof(index));
        return _head.AsSpan(_headers[index].ValueStart, _headers[index].ValueLength);
    }

    /// <summary>Finds the first field named <paramref name="name"/> (ASCII, case-insensitive); no allocation.</summary>
    public bool TryGetHeader(ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        for (int i = 0; i < HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(GetHeaderName(i), name))
            {
                value = GetHeaderValue(i);
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>The value of the first field named <paramref name="name"/> (case-insensitive) as a string, or null.</summary>
    public string? GetHeader(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        for (int i = 0; i < HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(GetHeaderName(i), name))
            {
                return Encoding.Latin1.GetString(GetHeaderValue(i));
            }
        }
        return null;
    }

    /// <summary>How many fields are named <paramref name="name"/> (case-insensitive).</summary>
    public int CountHeader(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int count = 0;
        for (int i = 0; i < HeaderCount; i++)
        {
            if (Ascii.EqualsIgnoreCase(GetHeaderName(i), name))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>
    /// Reads the next piece of the body as it arrives: an empty result means the body is complete (or there is none).
    /// The memory stays valid until the next call or until the handler's task completes. With
    /// <c>Expect: 100-continue</c> the first call sends "100 Continue". Call from the loop thread, one read at a time.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request does not belong to a server connection (a bare parser's).</exception>
    /// <exception cref="IOException">The connection ended before the whole body arrived, or the body broke a limit.</exception>
    public ValueTask<ReadOnlyMemory<byte>> ReadBodyAsync(CancellationToken cancellationToken = default)
    {
        IHttpBodySource source = BodySource
            ?? throw new InvalidOperationException("This request was not received by a server connection, so it has no body to read.");
        return source.ReadBodyAsync(cancellationToken);
    }

    /// <summary>A one-line description for logs and tests.</summary>
    public override string ToString() =>
        $"{Method} {Target} HTTP/{Version / 10}.{Version % 10} cl={ContentLength} chunked={IsChunked} expect={ExpectContinue} keepAlive={KeepAlive} headers={HeaderCount}";

    internal void Clear()
    {
        Method = "";
        _target = null;
        _targetStart = _targetLength = 0;
        Version = 0;
        ContentLength = -1;
        IsChunked = false;
        ExpectContinue = false;
        KeepAlive = false;
        HeaderCount = 0;
    }

    internal void SetTarget(int start, int length)
    {
        _targetStart = start;
        _targetLength = length;
    }

    internal void AddHeader(int nameStart, int nameLength, int valueStart, int valueLength)
    {
        if (HeaderCount == _headers.Length)
        {
            Array.Resize(ref _headers, _headers.Length * 2);
        }
        _headers[HeaderCount++] = (nameStart, nameLength, valueStart, valueLength);
    }

    /// <summary>Keeps a copy of the head's bytes: the offsets recorded while parsing point into it.</summary>
    internal void SetHeadBytes(ReadOnlySpan<byte> head)
    {
        if (head.Length > _head.Length)
        {
            _head = new byte[Math.Max(head.Length, _head.Length * 2)];
        }
        head.CopyTo(_head);
    }
}

/// <summary>Where a request's body comes from: the server connection that received it.</summary>
internal interface IHttpBodySource
{
    ValueTask<ReadOnlyMemory<byte>> ReadBodyAsync(CancellationToken cancellationToken);
}
