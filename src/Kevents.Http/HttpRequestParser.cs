using System.Text;

namespace Kevents.Http;

/// <summary>
/// A small, strict HTTP/1.1 request-head parser (RFC 9112) that works on bytes in memory, with no socket. It is
/// incremental: the caller keeps the bytes of the current request in one buffer starting at the request's first byte
/// and calls <see cref="Parse"/> again as the buffer grows; the parser remembers which lines it has already parsed and
/// where its search for the next line feed stopped, so a head trickled one byte at a time costs linear, not quadratic,
/// work. After <see cref="HttpParseStatus.Complete"/> the request's bytes are copied into <see cref="Request"/>, so the
/// caller's buffer may be reused at once.
/// </summary>
/// <remarks>
/// <para>Strictness, each answered with 400 unless noted: CRLF line endings only (no bare LF or CR; a bare CR is
/// refused as soon as the byte after it arrives, not when the line ends); single spaces in the request line; a method
/// of token characters; a target of visible ASCII starting with "/" (or absolute-form); "HTTP/1.0" or "HTTP/1.1"
/// (other versions 505); header names of token characters with the colon right after them (so CR, NUL and spaces in
/// names are refused); no obs-fold (a line starting with SP or HTAB); no control characters in values; HTTP/1.1
/// requires exactly one Host; Content-Length is digits only and appears once; Content-Length together with
/// Transfer-Encoding is refused (request smuggling); a Transfer-Encoding other than exactly "chunked" is 501.</para>
/// <para>Limits: a request line longer than <see cref="MaxRequestLine"/> is 414; header lines totalling more than
/// <see cref="MaxHeaderBytes"/> or more than <see cref="MaxHeaderCount"/> fields are 431. Limits are checked before a
/// line's content, and on incomplete input too, so the answer never depends on how the bytes were split. Nothing is
/// ever allocated from a length the client declares, and a parse of a common request allocates nothing.</para>
/// </remarks>
public sealed class HttpRequestParser
{
    // RFC 9112 2.2: a server should ignore at least one empty line before the request line; a few are plenty.
    private const int MaxLeadingEmptyLines = 4;
    // 18 digits always fit in a long.
    private const int MaxContentLengthDigits = 18;

    private readonly HttpRequest _request;
    private int _lineStart;
    private int _scanFrom;
    private int _crScanFrom;
    private int _headerStart = -1;
    private int _leadingEmptyLines;
    private int _hostCount;
    private int _transferEncodingLines;
    private bool _connectionClose;
    private bool _connectionKeepAlive;
    private bool _fresh = true;

    /// <summary>Creates a parser with the given limits (defaults: 8 KiB request line, 32 KiB and 100 header fields).</summary>
    /// <param name="maxRequestLine">Longest request line in bytes, without its CRLF (414 above it).</param>
    /// <param name="maxHeaderBytes">Largest header section in bytes, CRLFs included (431 above it).</param>
    /// <param name="maxHeaderCount">Most header fields (431 above it).</param>
    public HttpRequestParser(int maxRequestLine = 8 * 1024, int maxHeaderBytes = 32 * 1024, int maxHeaderCount = 100)
        : this(maxRequestLine, maxHeaderBytes, maxHeaderCount, new HttpRequest())
    {
    }

    internal HttpRequestParser(int maxRequestLine, int maxHeaderBytes, int maxHeaderCount, HttpRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRequestLine, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxHeaderBytes, 2);
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderCount);
        MaxRequestLine = maxRequestLine;
        MaxHeaderBytes = maxHeaderBytes;
        MaxHeaderCount = maxHeaderCount;
        _request = request;
    }

    /// <summary>Longest request line (414 above it).</summary>
    public int MaxRequestLine { get; }

    /// <summary>Largest header section (431 above it).</summary>
    public int MaxHeaderBytes { get; }

    /// <summary>Most header fields (431 above it).</summary>
    public int MaxHeaderCount { get; }

    /// <summary>After <see cref="HttpParseStatus.Error"/>: the status code to answer (400, 414, 431, 501, 505).</summary>
    public int ErrorStatus { get; private set; }

    /// <summary>After <see cref="HttpParseStatus.Error"/>: why, for a Debug log line.</summary>
    public string ErrorReason { get; private set; } = "";

    /// <summary>
    /// After <see cref="HttpParseStatus.Complete"/>: the parsed request. The same object is reused: its fields are
    /// cleared when the next request's parse starts.
    /// </summary>
    public HttpRequest Request => _request;

    /// <summary>Forgets the current request's parse state: call after Complete or Error, before the next request.</summary>
    public void Reset()
    {
        _lineStart = 0;
        _scanFrom = 0;
        _crScanFrom = 0;
        _headerStart = -1;
        _leadingEmptyLines = 0;
        _hostCount = 0;
        _transferEncodingLines = 0;
        _connectionClose = false;
        _connectionKeepAlive = false;
        _fresh = true;
        ErrorStatus = 0;
        ErrorReason = "";
    }

    /// <summary>
    /// Parses what is in <paramref name="buffer"/>, which must start at the request's first byte and hold, at its
    /// start, the same bytes as on earlier calls since <see cref="Reset"/>. On Complete, <paramref name="consumed"/>
    /// is the length of the head; bytes after it belong to the body or the next request.
    /// </summary>
    public HttpParseStatus Parse(ReadOnlySpan<byte> buffer, out int consumed)
    {
        consumed = 0;
        if (ErrorStatus != 0)
        {
            return HttpParseStatus.Error;
        }
        if (_fresh)
        {
            _fresh = false;
            _request.Clear();
        }
        while (true)
        {
            int found = buffer[_scanFrom..].IndexOf((byte)'\n');
            if (found < 0)
            {
                _scanFrom = buffer.Length;
                // No line feed in what is pending, so a CR with a byte after it is a bare CR: refuse it now instead
                // of waiting for a line end that may never come (the last byte's follower is not here yet).
                int from = Math.Max(_crScanFrom, _lineStart);
                if (buffer.Length - 1 > from && HasBareCr(buffer[from..(buffer.Length - 1)], from))
                {
                    return Fail(400, "bare CR");
                }
                _crScanFrom = Math.Max(from, buffer.Length - 1);
                return CheckIncompleteLimits(buffer.Length);
            }
            int lineFeed = _scanFrom + found;
            int lineEnd = lineFeed + 1;
            // A CR anywhere but right before the line feed is a bare CR. Checked before the length limits when it
            // lies within them, so the answer is the same as when the line was incomplete (the result never depends
            // on how the bytes were split; the same check runs on incomplete input).
            if (lineFeed - 1 > _lineStart && HasBareCr(buffer[_lineStart..(lineFeed - 1)], _lineStart))
            {
                return Fail(400, "bare CR");
            }
            ReadOnlySpan<byte> line = buffer[_lineStart..lineFeed];
            int lineStart = _lineStart;
            _lineStart = _scanFrom = _crScanFrom = lineEnd;

            if (_headerStart < 0)
            {
                // Still looking for the request line. The length limit comes first, as on incomplete input.
                if (line.Length > MaxRequestLine + 1)
                {
                    return Fail(414, "request line too long");
                }
                if (line.IsEmpty || line[^1] != (byte)'\r')
                {
                    return Fail(400, "line not ended by CRLF");
                }
                line = line[..^1];
                if (line.Length > MaxRequestLine)
                {
                    return Fail(414, "request line too long");
                }
                if (line.IsEmpty)
                {
                    if (++_leadingEmptyLines > MaxLeadingEmptyLines)
                    {
                        return Fail(400, "too many empty lines before the request line");
                    }
                    continue;
                }
                if (!ParseRequestLine(line, lineStart))
                {
                    return HttpParseStatus.Error;
                }
                _headerStart = lineEnd;
                continue;
            }

            if (lineEnd - _headerStart > MaxHeaderBytes)
            {
                return Fail(431, "header section too large");
            }
            if (line.IsEmpty || line[^1] != (byte)'\r')
            {
                return Fail(400, "line not ended by CRLF");
            }
            line = line[..^1];
            if (line.IsEmpty)
            {
                if (!Finish())
                {
                    return HttpParseStatus.Error;
                }
                consumed = lineEnd;
                _request.SetHeadBytes(buffer[..lineEnd]);
                return HttpParseStatus.Complete;
            }
            if (_request.HeaderCount >= MaxHeaderCount)
            {
                return Fail(431, "too many header fields");
            }
            if (!ParseHeader(line, lineStart))
            {
                return HttpParseStatus.Error;
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="bytes"/> (at <paramref name="offset"/> in the buffer, each followed by a byte that is
    /// not a line feed) hold a CR that counts: one placed before the current limit would refuse the input anyway
    /// (RFC 9112 2.2: a bare CR is invalid). Past the limit the limit's answer comes first, as it would on a split.
    /// </summary>
    private bool HasBareCr(ReadOnlySpan<byte> bytes, int offset)
    {
        int cr = bytes.IndexOf((byte)'\r');
        if (cr < 0)
        {
            return false;
        }
        int limit = _headerStart < 0 ? _lineStart + MaxRequestLine : _headerStart + MaxHeaderBytes - 1;
        return offset + cr < limit;
    }

    private HttpParseStatus CheckIncompleteLimits(int length)
    {
        int pending = length - _lineStart;
        if (_headerStart < 0)
        {
            // A line of more than limit + 1 bytes (the +1 may be its CR) is too long however it ends.
            if (pending > MaxRequestLine + 1)
            {
                return Fail(414, "request line too long");
            }
        }
        else if (length - _headerStart > MaxHeaderBytes)
        {
            return Fail(431, "header section too large");
        }
        return HttpParseStatus.Incomplete;
    }

    private bool ParseRequestLine(ReadOnlySpan<byte> line, int lineStart)
    {
        int space = line.IndexOf((byte)' ');
        if (space <= 0 || !IsToken(line[..space]))
        {
            return FailBool(400, "bad method");
        }
        ReadOnlySpan<byte> method = line[..space];
        ReadOnlySpan<byte> rest = line[(space + 1)..];
        int targetStart = lineStart + space + 1;
        space = rest.IndexOf((byte)' ');
        if (space <= 0)
        {
            return FailBool(400, "bad request line");
        }
        ReadOnlySpan<byte> target = rest[..space];
        ReadOnlySpan<byte> version = rest[(space + 1)..];
        foreach (byte b in target)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return FailBool(400, "bad character in request target");
            }
        }
        if (target[0] != (byte)'/' && !target.StartsWith("http://"u8) && !target.StartsWith("https://"u8))
        {
            return FailBool(400, "request target is not origin-form or absolute-form");
        }
        if (version.Length != 8 || !version.StartsWith("HTTP/"u8) || !char.IsAsciiDigit((char)version[5])
            || version[6] != (byte)'.' || !char.IsAsciiDigit((char)version[7]))
        {
            return FailBool(400, "bad HTTP version");
        }
        if (version[5] != (byte)'1' || version[7] is not ((byte)'0' or (byte)'1'))
        {
            return FailBool(505, "HTTP version not supported");
        }
        _request.Method = InternMethod(method);
        _request.Version = version[7] == (byte)'1' ? 11 : 10;
        _request.SetTarget(targetStart, target.Length);
        return true;
    }

    private static string InternMethod(ReadOnlySpan<byte> method) => method switch
    {
        _ when method.SequenceEqual("GET"u8) => "GET",
        _ when method.SequenceEqual("HEAD"u8) => "HEAD",
        _ when method.SequenceEqual("POST"u8) => "POST",
        _ when method.SequenceEqual("PUT"u8) => "PUT",
        _ when method.SequenceEqual("DELETE"u8) => "DELETE",
        _ when method.SequenceEqual("OPTIONS"u8) => "OPTIONS",
        _ when method.SequenceEqual("PATCH"u8) => "PATCH",
        _ => Encoding.ASCII.GetString(method),
    };

    private bool ParseHeader(ReadOnlySpan<byte> line, int lineStart)
    {
        if (line[0] is (byte)' ' or (byte)'\t')
        {
            return FailBool(400, "obsolete line folding");
        }
        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || !IsToken(line[..colon]))
        {
            return FailBool(400, "bad header name");
        }
        ReadOnlySpan<byte> name = line[..colon];
        ReadOnlySpan<byte> afterColon = line[(colon + 1)..];
        int leading = afterColon.Length - afterColon.TrimStart(" \t"u8).Length;
        ReadOnlySpan<byte> value = afterColon.Trim(" \t"u8);
        foreach (byte b in value)
        {
            if (b < 0x20 && b != (byte)'\t' || b == 0x7F)
            {
                return FailBool(400, "control character in header value");
            }
        }
        _request.AddHeader(lineStart, colon, lineStart + colon + 1 + leading, value.Length);
        if (Ascii.EqualsIgnoreCase(name, "host"u8))
        {
            if (++_hostCount > 1)
            {
                return FailBool(400, "more than one Host");
            }
        }
        else if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
        {
            if (_request.ContentLength >= 0)
            {
                return FailBool(400, "more than one Content-Length");
            }
            if (value.IsEmpty || value.Length > MaxContentLengthDigits)
            {
                return FailBool(400, "bad Content-Length");
            }
            long length = 0;
            foreach (byte b in value)
            {
                if (!char.IsAsciiDigit((char)b))
                {
                    return FailBool(400, "bad Content-Length");
                }
                length = length * 10 + (b - '0');
            }
            _request.ContentLength = length;
        }
        else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
        {
            // Only one line saying exactly "chunked" is accepted (checked in Finish); anything else is refused.
            _transferEncodingLines++;
            _request.IsChunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
        }
        else if (Ascii.EqualsIgnoreCase(name, "connection"u8))
        {
            foreach (Range part in value.Split((byte)','))
            {
                ReadOnlySpan<byte> token = value[part].Trim(" \t"u8);
                if (Ascii.EqualsIgnoreCase(token, "close"u8))
                {
                    _connectionClose = true;
                }
                else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
                {
                    _connectionKeepAlive = true;
                }
            }
        }
        else if (Ascii.EqualsIgnoreCase(name, "expect"u8))
        {
            _request.ExpectContinue = Ascii.EqualsIgnoreCase(value, "100-continue"u8);
        }
        return true;
    }

    private bool Finish()
    {
        if (_request.Version == 11 && _hostCount == 0)
        {
            return FailBool(400, "HTTP/1.1 request without Host");
        }
        if (_transferEncodingLines > 0)
        {
            if (_request.ContentLength >= 0)
            {
                return FailBool(400, "both Content-Length and Transfer-Encoding");
            }
            if (_transferEncodingLines > 1 || !_request.IsChunked)
            {
                _request.IsChunked = false;
                return FailBool(501, "unsupported Transfer-Encoding");
            }
            if (_request.Version == 10)
            {
                // RFC 9112 6.1: chunked from an HTTP/1.0 client may be a smuggling attempt; the framing is faulty.
                return FailBool(400, "Transfer-Encoding in an HTTP/1.0 request");
            }
        }
        if (!_request.HasBody)
        {
            _request.ExpectContinue = false;
        }
        _request.KeepAlive = !_connectionClose && (_request.Version == 11 || _connectionKeepAlive);
        return true;
    }

    private static bool IsToken(ReadOnlySpan<byte> text)
    {
        foreach (byte b in text)
        {
            if (!IsTokenChar(b))
            {
                return false;
            }
        }
        return true;
    }

    // tchar from RFC 9110 5.6.2.
    private static bool IsTokenChar(byte b) =>
        char.IsAsciiLetterOrDigit((char)b) || b is (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\''
            or (byte)'*' or (byte)'+' or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';

    private HttpParseStatus Fail(int status, string reason)
    {
        ErrorStatus = status;
        ErrorReason = reason;
        return HttpParseStatus.Error;
    }

    private bool FailBool(int status, string reason)
    {
        Fail(status, reason);
        return false;
    }
}
