using System.Text;

namespace LoadGen;

/// <summary>
/// HTTP/1.1 keep-alive GETs of one path, pipelined up to the depth. A response completes when its head and
/// Content-Length bytes of body have arrived (1xx interim heads are skipped; 204 and 304 have no body); a status
/// other than 200 counts as a mismatch, and so does a body that differs by a byte from the expected one when one is
/// given. Responses that cannot be framed break the stream: no Content-Length, a Transfer-Encoding, two
/// Content-Lengths that disagree, a length that is not plain digits, a head over 16 KiB, bytes nobody asked for.
/// </summary>
public sealed class HttpScenario : ILoadScenario
{
    // A head larger than this is not a response this scenario can follow.
    internal const int MaxHeadBytes = 16 * 1024;

    private readonly byte[] _request;
    private readonly byte[]? _expectedBody;
    private readonly string _path;

    /// <summary>Creates the scenario: GET <paramref name="path"/> with a Host header of <paramref name="host"/>.</summary>
    /// <param name="path">The request target.</param>
    /// <param name="host">The Host header's value.</param>
    /// <param name="expectedBody">When not null, every body must be exactly these bytes; null counts bodies without checking them.</param>
    public HttpScenario(string path, string host, byte[]? expectedBody = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(host);
        _path = path;
        _request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        _expectedBody = expectedBody;
    }

    /// <inheritdoc />
    public string Name => "http";

    /// <inheritdoc />
    public string Detail => _expectedBody is null ? _path : $"{_path}, body checked ({_expectedBody.Length} bytes)";

    /// <inheritdoc />
    public int MaxRequestSize => _request.Length;

    /// <inheritdoc />
    public ILoadSession CreateSession(int connectionIndex) => new HttpSession(_request, _expectedBody);

    private sealed class HttpSession(byte[] request, byte[]? expectedBody) : ILoadSession
    {
        private readonly byte[] _head = new byte[MaxHeadBytes];
        private int _headLength;
        private bool _inBody;
        private long _bodyLeft;
        private long _bodyOffset;
        private bool _wrong;
        private long _outstanding;

        public int WriteRequest(Span<byte> destination)
        {
            request.CopyTo(destination);
            _outstanding++;
            return request.Length;
        }

        public ResponseProgress ReadResponses(ReadOnlySpan<byte> data)
        {
            int completed = 0;
            int mismatched = 0;
            while (!data.IsEmpty)
            {
                if (_outstanding == 0)
                {
                    return new ResponseProgress(completed, mismatched, Broken: true);
                }
                if (!_inBody)
                {
                    // Copy until the blank line that ends the head; only the head's own bytes are taken from data.
                    int searchFrom = Math.Max(0, _headLength - 3);
                    int take = Math.Min(data.Length, _head.Length - _headLength);
                    data[..take].CopyTo(_head.AsSpan(_headLength));
                    int end = _head.AsSpan(searchFrom, _headLength + take - searchFrom).IndexOf("\r\n\r\n"u8);
                    if (end < 0)
                    {
                        _headLength += take;
                        if (_headLength == _head.Length)
                        {
                            return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        break;
                    }
                    int headEnd = searchFrom + end + 4;
                    data = data[(headEnd - _headLength)..];
                    _headLength = 0;
                    HeadKind kind = ParseHead(_head.AsSpan(0, headEnd), out int status, out _bodyLeft);
                    if (kind == HeadKind.Broken)
                    {
                        return new ResponseProgress(completed, mismatched, Broken: true);
                    }
                    if (kind == HeadKind.Interim)
                    {
                        // 100 Continue and the like come before the real response to the same request.
                        continue;
                    }
                    _wrong = status != 200 || (expectedBody is not null && _bodyLeft != expectedBody.Length);
                    _bodyOffset = 0;
                    _inBody = true;
                }
                int body = (int)Math.Min(_bodyLeft, data.Length);
                if (expectedBody is not null && !_wrong &&
                    !data[..body].SequenceEqual(expectedBody.AsSpan((int)_bodyOffset, body)))
                {
                    _wrong = true;
                }
                _bodyOffset += body;
                _bodyLeft -= body;
                data = data[body..];
                if (_bodyLeft == 0)
                {
                    _inBody = false;
                    _outstanding--;
                    completed++;
                    if (_wrong)
                    {
                        mismatched++;
                    }
                }
            }
            return new ResponseProgress(completed, mismatched);
        }
    }

    internal enum HeadKind
    {
        Final,
        Interim,
        Broken,
    }

    /// <summary>
    /// Reads a response head's status code and body length (0 for 204 and 304). Broken when the status line is
    /// malformed or the body cannot be framed by one Content-Length.
    /// </summary>
    internal static HeadKind ParseHead(ReadOnlySpan<byte> head, out int status, out long contentLength)
    {
        status = 0;
        contentLength = -1;
        // "HTTP/1.1 200 OK": the code sits at offset 9, followed by a space (or the line's end).
        if (head.Length < 14 || !head.StartsWith("HTTP/1."u8) || head[8] != (byte)' ' || (head[12] != (byte)' ' && head[12] != (byte)'\r') ||
            !TryParseDigits(head.Slice(9, 3), out long code))
        {
            return HeadKind.Broken;
        }
        status = (int)code;
        if (status is >= 100 and < 200 && status != 101)
        {
            return HeadKind.Interim;
        }
        int lineEnd = head.IndexOf("\r\n"u8);
        foreach (Range line in head[(lineEnd + 2)..].Split("\r\n"u8))
        {
            ReadOnlySpan<byte> field = head[(lineEnd + 2)..][line];
            int colon = field.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }
            ReadOnlySpan<byte> name = field[..colon];
            ReadOnlySpan<byte> value = field[(colon + 1)..].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                // Chunked (or anything else) framing: not followed here, and with a Content-Length beside it the
                // response would be ambiguous anyway.
                return HeadKind.Broken;
            }
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!TryParseDigits(value, out long length) || (contentLength >= 0 && contentLength != length))
                {
                    return HeadKind.Broken;
                }
                contentLength = length;
            }
        }
        if (status is 204 or 304)
        {
            contentLength = 0;
        }
        return contentLength >= 0 ? HeadKind.Final : HeadKind.Broken;
    }

    /// <summary>1 to 15 ASCII digits and nothing else: no sign, no spaces, no list.</summary>
    private static bool TryParseDigits(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 15)
        {
            return false;
        }
        foreach (byte b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
            value = value * 10 + (b - '0');
        }
        return true;
    }
}
