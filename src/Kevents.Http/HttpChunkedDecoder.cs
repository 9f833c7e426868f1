namespace Kevents.Http;

/// <summary>The outcome of <see cref="HttpChunkedDecoder.Decode"/>.</summary>
public enum HttpChunkedStatus
{
    /// <summary>All input was used, or the output is full: call again with more input or more room.</summary>
    NeedMore,

    /// <summary>The last chunk and the trailer section ended; <c>consumed</c> stops right after them.</summary>
    Done,

    /// <summary>The input is not valid chunked coding (see <see cref="HttpChunkedDecoder.ErrorReason"/>): answer 400 and close.</summary>
    Error,
}

/// <summary>
/// Decodes a chunked request body (RFC 9112 7.1) incrementally, byte by byte, so the result never depends on how the
/// input was split. Strict: CRLF only, hexadecimal sizes of at most 15 digits (larger is refused as an overflow),
/// chunk extensions and trailer fields without control characters and within <see cref="MaxLineBytes"/> per line
/// and <see cref="MaxTrailerBytes"/> in all. Nothing is allocated; chunk sizes are only counted, never reserved.
/// </summary>
public sealed class HttpChunkedDecoder
{
    private const int MaxSizeDigits = 15;

    private State _state;
    private long _chunkRemaining;
    private int _digits;
    private int _lineBytes;
    private int _trailerBytes;

    private enum State
    {
        SizeStart,
        Size,
        Extension,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        TrailerStart,
        TrailerLine,
        TrailerLf,
        FinalLf,
        Done,
        Error,
    }

    /// <summary>Creates a decoder.</summary>
    /// <param name="maxLineBytes">Longest chunk-size line (with extensions) or trailer line. Default 4 KiB.</param>
    /// <param name="maxTrailerBytes">Largest trailer section. Default 8 KiB.</param>
    public HttpChunkedDecoder(int maxLineBytes = 4096, int maxTrailerBytes = 8192)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTrailerBytes, 0);
        MaxLineBytes = maxLineBytes;
        MaxTrailerBytes = maxTrailerBytes;
    }

    /// <summary>Longest chunk-size or trailer line.</summary>
    public int MaxLineBytes { get; }

    /// <summary>Largest trailer section.</summary>
    public int MaxTrailerBytes { get; }

    /// <summary>Body bytes produced since <see cref="Reset"/>.</summary>
    public long DecodedBytes { get; private set; }

    /// <summary>True once the whole body has been decoded.</summary>
    public bool IsDone => _state == State.Done;

    /// <summary>After <see cref="HttpChunkedStatus.Error"/>: why, for a Debug log line.</summary>
    public string ErrorReason { get; private set; } = "";

    /// <summary>Starts over for a new body.</summary>
    public void Reset()
    {
        _state = State.SizeStart;
        _chunkRemaining = 0;
        _digits = 0;
        _lineBytes = 0;
        _trailerBytes = 0;
        DecodedBytes = 0;
        ErrorReason = "";
    }

    /// <summary>
    /// Decodes from <paramref name="input"/> into <paramref name="output"/>. <paramref name="consumed"/> input bytes
    /// were used and <paramref name="written"/> body bytes produced; the rest of the input is for the next call (when
    /// the output was full) or belongs after the body (on Done).
    /// </summary>
    public HttpChunkedStatus Decode(ReadOnlySpan<byte> input, Span<byte> output, out int consumed, out int written)
    {
        int i = 0;
        int o = 0;
        try
        {
            while (true)
            {
                if (_state == State.Done)
                {
                    return HttpChunkedStatus.Done;
                }
                if (_state == State.Error)
                {
                    return HttpChunkedStatus.Error;
                }
                if (_state == State.Data)
                {
                    int n = (int)Math.Min(_chunkRemaining, Math.Min(input.Length - i, output.Length - o));
                    if (n == 0)
                    {
                        return HttpChunkedStatus.NeedMore;
                    }
                    input.Slice(i, n).CopyTo(output[o..]);
                    i += n;
                    o += n;
                    _chunkRemaining -= n;
                    DecodedBytes += n;
                    if (_chunkRemaining == 0)
                    {
                        _state = State.DataCr;
                    }
                    continue;
                }
                if (i == input.Length)
                {
                    return HttpChunkedStatus.NeedMore;
                }
                Step(input[i++]);
            }
        }
        finally
        {
            consumed = i;
            written = o;
        }
    }

    private void Step(byte b)
    {
        switch (_state)
        {
            case State.SizeStart:
            case State.Size:
                int digit = HexValue(b);
                if (digit >= 0)
                {
                    if (++_digits > MaxSizeDigits)
                    {
                        Fail("chunk size overflow");
                        return;
                    }
                    _chunkRemaining = _chunkRemaining * 16 + digit;
                    _state = State.Size;
                    _lineBytes++;
                    return;
                }
                if (_state == State.SizeStart)
                {
                    Fail("bad chunk size");
                    return;
                }
                if (b == (byte)';')
                {
                    _state = State.Extension;
                    _lineBytes++;
                    return;
                }
                if (b == (byte)'\r')
                {
                    _state = State.SizeLf;
                    return;
                }
                Fail("bad chunk size");
                return;
            case State.Extension:
                if (b == (byte)'\r')
                {
                    _state = State.SizeLf;
                    return;
                }
                if (IsControl(b))
                {
                    Fail("control character in a chunk extension");
                    return;
                }
                if (++_lineBytes > MaxLineBytes)
                {
                    Fail("chunk-size line too long");
                }
                return;
            case State.SizeLf:
                if (b != (byte)'\n')
                {
                    Fail("bare CR in a chunk-size line");
                    return;
                }
                _digits = 0;
                _lineBytes = 0;
                _state = _chunkRemaining == 0 ? State.TrailerStart : State.Data;
                return;
            case State.DataCr:
                if (b != (byte)'\r')
                {
                    Fail("chunk data not followed by CRLF");
                    return;
                }
                _state = State.DataLf;
                return;
            case State.DataLf:
                if (b != (byte)'\n')
                {
                    Fail("chunk data not followed by CRLF");
                    return;
                }
                _state = State.SizeStart;
                return;
            case State.TrailerStart:
                if (b == (byte)'\r')
                {
                    _state = State.FinalLf;
                    return;
                }
                if (b is (byte)' ' or (byte)'\t' or (byte)':')
                {
                    Fail("bad trailer field");
                    return;
                }
                _state = State.TrailerLine;
                goto case State.TrailerLine;
            case State.TrailerLine:
                if (b == (byte)'\r')
                {
                    _state = State.TrailerLf;
                    return;
                }
                if (IsControl(b))
                {
                    Fail("control character in a trailer field");
                    return;
                }
                _lineBytes++;
                if (_lineBytes > MaxLineBytes || ++_trailerBytes > MaxTrailerBytes)
                {
                    Fail("trailer section too large");
                }
                return;
            case State.TrailerLf:
                if (b != (byte)'\n')
                {
                    Fail("bare CR in the trailer section");
                    return;
                }
                _lineBytes = 0;
                _state = State.TrailerStart;
                return;
            case State.FinalLf:
                if (b != (byte)'\n')
                {
                    Fail("bare CR at the end of the body");
                    return;
                }
                _state = State.Done;
                return;
        }
    }

    private static bool IsControl(byte b) => b < 0x20 && b != (byte)'\t' || b == 0x7F;

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    private void Fail(string reason)
    {
        ErrorReason = reason;
        _state = State.Error;
    }
}
