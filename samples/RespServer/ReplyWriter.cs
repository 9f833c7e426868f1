using System.Buffers.Text;
using System.Text;

namespace RespServer;

/// <summary>Where a <see cref="ReplyWriter"/> sends what it gathered: the client's connection, or memory in tests.</summary>
internal interface IReplySink
{
    void Send(ReadOnlySpan<byte> replies);
}

/// <summary>
/// RESP2 replies gathered in one loop-owned buffer and sent with one write per read batch (pipelined commands cost
/// one send, not one each). Replies larger than <see cref="DirectThreshold"/> go straight to the sink after what is
/// buffered, so the buffer stays small however big a value is. Loop thread only; no allocation once warm.
/// </summary>
internal sealed class ReplyWriter
{
    /// <summary>A bulk payload this large is sent on its own instead of being copied into the buffer.</summary>
    public const int DirectThreshold = 16 * 1024;

    /// <summary>Buffered replies above this are sent before the next command runs.</summary>
    public const int FlushThreshold = 64 * 1024;

    private byte[] _buffer = new byte[FlushThreshold + 1024];
    private int _count;

    /// <summary>The client being answered; set for the length of one batch.</summary>
    public IReplySink? Sink { get; set; }

    public int Buffered => _count;

    /// <summary>Error replies written so far (INFO's total_error_replies).</summary>
    public long ErrorReplies { get; private set; }

    /// <summary>Reply bytes handed to sinks so far.</summary>
    public long BytesSent { get; private set; }

    /// <summary>Sends what is buffered.</summary>
    public void Flush()
    {
        if (_count > 0)
        {
            int count = _count;
            _count = 0;
            BytesSent += count;
            Sink?.Send(_buffer.AsSpan(0, count));
            if (_buffer.Length > 16 * FlushThreshold)
            {
                // One huge reply (KEYS over many keys) should not pin its buffer for the life of the server.
                _buffer = new byte[FlushThreshold + 1024];
            }
        }
    }

    public void Ok() => Raw("+OK\r\n"u8);

    public void NullBulk() => Raw("$-1\r\n"u8);

    public void NullArray() => Raw("*-1\r\n"u8);

    public void Simple(ReadOnlySpan<byte> text)
    {
        Span<byte> span = Reserve(text.Length + 3);
        span[0] = (byte)'+';
        text.CopyTo(span[1..]);
        "\r\n"u8.CopyTo(span[(1 + text.Length)..]);
        _count += text.Length + 3;
    }

    /// <summary>An error reply; <paramref name="message"/> starts with its code (ERR, WRONGTYPE, ...). CR and LF become blanks.</summary>
    public void Error(string message)
    {
        ErrorReplies++;
        Raw("-"u8);
        Span<byte> span = Reserve(Encoding.UTF8.GetMaxByteCount(message.Length));
        int n = Encoding.UTF8.GetBytes(message, span);
        Sanitize(span[..n]);
        _count += n;
        Raw("\r\n"u8);
    }

    /// <summary>An error reply from parts; CR and LF in them become blanks, as Redis does so a reply stays one line.</summary>
    public void ErrorStart()
    {
        ErrorReplies++;
        Raw("-"u8);
    }

    public void ErrorPart(ReadOnlySpan<byte> part, int maxLength = int.MaxValue)
    {
        if (part.Length > maxLength)
        {
            part = part[..maxLength];
        }
        Span<byte> span = Reserve(part.Length);
        part.CopyTo(span);
        Sanitize(span[..part.Length]);
        _count += part.Length;
    }

    public void ErrorEnd() => Raw("\r\n"u8);

    public void Integer(long value) => Prefixed((byte)':', value);

    public void ArrayHeader(int count) => Prefixed((byte)'*', count);

    public void Bulk(ReadOnlySpan<byte> value)
    {
        Prefixed((byte)'$', value.Length);
        if (value.Length >= DirectThreshold && Sink is not null)
        {
            Flush();
            BytesSent += value.Length;
            Sink.Send(value);
            Raw("\r\n"u8);
            return;
        }
        Span<byte> span = Reserve(value.Length + 2);
        value.CopyTo(span);
        span[value.Length] = (byte)'\r';
        span[value.Length + 1] = (byte)'\n';
        _count += value.Length + 2;
    }

    public void Bulk(string value) => Bulk(Encoding.UTF8.GetBytes(value));

    /// <summary>The decimal text of <paramref name="value"/> as a bulk string (what INCR stores, CONFIG GET returns).</summary>
    public void BulkInteger(long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int n);
        Bulk(digits[..n]);
    }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        Span<byte> span = Reserve(bytes.Length);
        bytes.CopyTo(span);
        _count += bytes.Length;
    }

    private void Prefixed(byte type, long value)
    {
        Span<byte> span = Reserve(24);
        span[0] = type;
        Utf8Formatter.TryFormat(value, span[1..], out int n);
        span[1 + n] = (byte)'\r';
        span[2 + n] = (byte)'\n';
        _count += n + 3;
    }

    private Span<byte> Reserve(int size)
    {
        if (_buffer.Length - _count < size)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _count + size));
        }
        return _buffer.AsSpan(_count);
    }

    private static void Sanitize(Span<byte> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] is (byte)'\r' or (byte)'\n')
            {
                text[i] = (byte)' ';
            }
        }
    }
}
