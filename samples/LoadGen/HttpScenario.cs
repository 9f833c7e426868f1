using System.Buffers.Text;
using System.Text;

namespace LoadGen;

/// <summary>
/// HTTP/1.1 keep-alive GETs of one path. A response completes when its head and Content-Length bytes of body have
/// arrived; a status other than 200 counts as a mismatch. Responses without Content-Length (chunked, or a close
/// that ends the body) and bytes nobody asked for break the stream, since they cannot be framed. Bodies are
/// counted, not checked: the scenario does not know the file's contents.
/// </summary>
public sealed class HttpScenario : ILoadScenario
{
    // A head larger than this is not a response this scenario can follow.
    internal const int MaxHeadBytes = 16 * 1024;

    private readonly byte[] _request;

    /// <summary>Creates the scenario: GET <paramref name="path"/> with a Host header of <paramref name="host"/>.</summary>
    public HttpScenario(string path, string host)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(host);
        _request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    }

    /// <inheritdoc />
    public string Name => "http";

    /// <inheritdoc />
    public int MaxRequestSize => _request.Length;

    /// <inheritdoc />
    public ILoadSession CreateSession(int connectionIndex) => new HttpSession(_request);

    private sealed class HttpSession(byte[] request) : ILoadSession
    {
        private readonly byte[] _head = new byte[MaxHeadBytes];
        private int _headLength;
        private bool _inBody;
        private long _bodyLeft;
        private bool _statusOk;
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
                    if (!ParseHead(_head.AsSpan(0, headEnd), out _statusOk, out _bodyLeft))
                    {
                        return new ResponseProgress(completed, mismatched, Broken: true);
                    }
                    _inBody = true;
                }
                int body = (int)Math.Min(_bodyLeft, data.Length);
                _bodyLeft -= body;
                data = data[body..];
                if (_bodyLeft == 0)
                {
                    _inBody = false;
                    _outstanding--;
                    completed++;
                    if (!_statusOk)
                    {
                        mismatched++;
                    }
                }
            }
            return new ResponseProgress(completed, mismatched);
        }

        /// <summary>Reads the status code and Content-Length of a response head; false if either is missing or malformed.</summary>
        private static bool ParseHead(ReadOnlySpan<byte> head, out bool statusOk, out long contentLength)
        {
            statusOk = false;
            contentLength = -1;
            // "HTTP/1.1 200 OK": the code sits at offset 9.
            if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int status, out int used) || used != 3)
            {
                return false;
            }
            statusOk = status == 200;
            foreach (Range line in head.Split("\r\n"u8))
            {
                ReadOnlySpan<byte> field = head[line];
                int colon = field.IndexOf((byte)':');
                if (colon > 0 && Ascii.EqualsIgnoreCase(field[..colon], "Content-Length"u8))
                {
                    ReadOnlySpan<byte> value = field[(colon + 1)..].Trim((byte)' ');
                    if (!Utf8Parser.TryParse(value, out long length, out int consumed) || consumed != value.Length || length < 0)
                    {
                        return false;
                    }
                    contentLength = length;
                }
            }
            return contentLength >= 0;
        }
    }
}
