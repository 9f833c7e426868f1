namespace RespServer;

/// <summary>What one call of <see cref="RespParser.Parse"/> found at the start of its input.</summary>
internal enum RespParseStatus
{
    /// <summary>A whole command: its arguments are readable with <see cref="RespParser.Arguments"/>.</summary>
    Command,

    /// <summary>Bytes that carry no command (an empty inline line, <c>*0</c> or a negative count): drop them, go on.</summary>
    Skipped,

    /// <summary>The command is not complete yet: call again with the same bytes and more after them.</summary>
    NeedMore,

    /// <summary>The input breaks the protocol (<see cref="RespParser.Error"/> says how); the client must be closed.</summary>
    ProtocolError,
}

/// <summary>The protocol's size limits. Defaults are Redis': 64 KiB inline, 512 MiB bulk, 1M arguments.</summary>
internal sealed class RespLimits
{
    /// <summary>Longest inline command line, and longest <c>*N</c> / <c>$N</c> header line.</summary>
    public int MaxInlineLength { get; init; } = 64 * 1024;

    /// <summary>Longest bulk string (proto-max-bulk-len).</summary>
    public long MaxBulkLength { get; init; } = 512L * 1024 * 1024;

    /// <summary>Most arguments in one multibulk command.</summary>
    public int MaxMultiBulkCount { get; init; } = 1024 * 1024;

    public static RespLimits Default { get; } = new();
}

/// <summary>
/// A resumable RESP2 request parser: multibulk (<c>*2\r\n$3\r\nGET\r\n$1\r\nk\r\n</c>) and inline (<c>GET k\n</c>)
/// commands, parsed in place from a byte span with no socket and no allocation per command. One parser per client.
/// </summary>
/// <remarks>
/// <para>Each call parses the command at the start of <c>input</c>. After <see cref="RespParseStatus.Command"/> or
/// <see cref="RespParseStatus.Skipped"/> the caller drops <c>consumed</c> bytes and calls again with what follows.
/// After <see cref="RespParseStatus.NeedMore"/> the caller keeps every byte and calls again once more have arrived,
/// with the same bytes at the start: the parser remembers how far it got (arguments already found, the header of
/// the bulk string under way), so a command that arrives in many pieces is not parsed again from its start.</para>
/// <para>Nothing is sized by a length the client declared: argument slots grow as arguments arrive (at most 1024 up
/// front), and a bulk string is only ever as big as the bytes that came. Errors are Redis' own words, so the reply
/// <c>-ERR Protocol error: {Error}</c> reads as Redis would write it.</para>
/// </remarks>
internal sealed class RespParser
{
    private const int InitialSlots = 16;
    private const int MaxPreallocatedSlots = 1024;

    private readonly RespLimits _limits;
    // Where argument i is: a start >= 0 is an offset into the caller's input; a start < 0 is ~offset into _inline
    // (inline arguments are unquoted and unescaped into that buffer, so they are not slices of the input).
    private int[] _starts = new int[InitialSlots];
    private int[] _lengths = new int[InitialSlots];
    private byte[] _inline = [];
    private int _count;

    // The command under way (valid while the last result was NeedMore).
    private int _expected = -1;   // multibulk arguments announced; -1 before the *N line is read
    private int _position;        // bytes of the command parsed so far
    private long _bulkLength = -1; // length of the bulk string whose $N line is read; -1 when none

    public RespParser(RespLimits? limits = null) => _limits = limits ?? RespLimits.Default;

    /// <summary>Why the last call returned <see cref="RespParseStatus.ProtocolError"/>, in Redis' words.</summary>
    public string? Error { get; private set; }

    /// <summary>Arguments of the last command (name included).</summary>
    public int Count => _count;

    /// <summary>The arguments of the command just parsed from <paramref name="input"/> (the same span as given to Parse).</summary>
    public RespArgs Arguments(ReadOnlySpan<byte> input) => new(this, input);

    /// <summary>Argument <paramref name="index"/> of the last command parsed from <paramref name="input"/>.</summary>
    public ReadOnlySpan<byte> Argument(ReadOnlySpan<byte> input, int index)
    {
        if ((uint)index >= (uint)_count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The command has {_count} arguments.");
        }
        int start = _starts[index];
        return start >= 0 ? input.Slice(start, _lengths[index]) : _inline.AsSpan(~start, _lengths[index]);
    }

    /// <summary>Forgets a command under way (after an error, or to reuse the parser for other input).</summary>
    public void Reset()
    {
        _expected = -1;
        _position = 0;
        _bulkLength = -1;
        _count = 0;
        Error = null;
    }

    /// <summary>Parses the command at the start of <paramref name="input"/>; see the class remarks for the contract.</summary>
    public RespParseStatus Parse(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        if (_position == 0)
        {
            _count = 0;
            Error = null;
        }
        if (input.IsEmpty)
        {
            return RespParseStatus.NeedMore;
        }
        RespParseStatus status = input[0] == (byte)'*' ? ParseMultiBulk(input, out consumed) : ParseInline(input, out consumed);
        if (status != RespParseStatus.NeedMore)
        {
            _expected = -1;
            _position = 0;
            _bulkLength = -1;
        }
        return status;
    }

    private RespParseStatus ParseInline(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        // Bytes up to _position were searched before and hold no newline.
        int found = input[_position..].IndexOf((byte)'\n');
        if (found < 0)
        {
            if (input.Length > _limits.MaxInlineLength)
            {
                return Fail("too big inline request");
            }
            _position = input.Length;
            return RespParseStatus.NeedMore;
        }
        int newline = _position + found;
        if (newline > _limits.MaxInlineLength)
        {
            // The same answer as when the line arrives in pieces and outgrows the limit before its newline.
            return Fail("too big inline request");
        }
        ReadOnlySpan<byte> line = input[..newline];
        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }
        if (!SplitInline(line))
        {
            return Fail("unbalanced quotes in request");
        }
        consumed = newline + 1;
        return _count == 0 ? RespParseStatus.Skipped : RespParseStatus.Command;
    }

    private RespParseStatus ParseMultiBulk(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        if (_expected < 0)
        {
            int cr = FindHeaderEnd(input, 1, out bool tooLong);
            if (tooLong)
            {
                return Fail("too big mbulk count string");
            }
            if (cr < 0)
            {
                return RespParseStatus.NeedMore;
            }
            if (!RespNumber.TryParseInt64(input[1..cr], out long count) || count > _limits.MaxMultiBulkCount)
            {
                return Fail("invalid multibulk length");
            }
            if (count <= 0)
            {
                // Redis reads *0 and *-N as nothing at all and goes on with the next command.
                consumed = cr + 2;
                return RespParseStatus.Skipped;
            }
            _expected = (int)count;
            _position = cr + 2;
            _count = 0;
            EnsureSlots(Math.Min(_expected, MaxPreallocatedSlots));
        }
        while (_count < _expected)
        {
            if (_bulkLength < 0)
            {
                int cr = FindHeaderEnd(input, _position, out bool tooLong);
                if (tooLong)
                {
                    return Fail("too big bulk count string");
                }
                if (cr < 0)
                {
                    return RespParseStatus.NeedMore;
                }
                if (input[_position] != (byte)'$')
                {
                    return Fail($"expected '$', got '{(char)input[_position]}'");
                }
                if (!RespNumber.TryParseInt64(input[(_position + 1)..cr], out long length) || length < 0 || length > _limits.MaxBulkLength)
                {
                    return Fail("invalid bulk length");
                }
                _bulkLength = length;
                _position = cr + 2;
            }
            // The payload and the two bytes after it (CRLF, skipped unchecked as Redis does).
            if (input.Length - _position < _bulkLength + 2)
            {
                return RespParseStatus.NeedMore;
            }
            if (_count == _starts.Length)
            {
                EnsureSlots(_count * 2);
            }
            _starts[_count] = _position;
            _lengths[_count] = (int)_bulkLength;
            _count++;
            _position += (int)_bulkLength + 2;
            _bulkLength = -1;
        }
        consumed = _position;
        return RespParseStatus.Command;
    }

    /// <summary>
    /// The offset of the CR ending the header line that starts at <paramref name="from"/>, when the byte after it has
    /// arrived too (Redis waits for both, then skips them); -1 when it has not. <paramref name="tooLong"/> when the line
    /// is, or must become, longer than the inline limit, whatever the split of the input.
    /// </summary>
    private int FindHeaderEnd(ReadOnlySpan<byte> input, int from, out bool tooLong)
    {
        // Header lines are nearly always a few bytes ("$3", "*2"): a plain loop finds their CR sooner than a
        // vectorised search sets itself up. Longer lines fall through to IndexOf.
        int shortEnd = Math.Min(input.Length, from + 8);
        for (int i = from; i < shortEnd; i++)
        {
            if (input[i] == (byte)'\r')
            {
                tooLong = i - from > _limits.MaxInlineLength;
                return i + 1 < input.Length ? i : -1;
            }
        }
        int found = input[shortEnd..].IndexOf((byte)'\r');
        if (found >= 0)
        {
            found += shortEnd - from;
        }
        if (found < 0)
        {
            tooLong = input.Length - from > _limits.MaxInlineLength;
            return -1;
        }
        tooLong = found > _limits.MaxInlineLength;
        int cr = from + found;
        return cr + 1 < input.Length ? cr : -1;
    }

    private RespParseStatus Fail(string error)
    {
        Error = error;
        _count = 0;
        return RespParseStatus.ProtocolError;
    }

    private void EnsureSlots(int slots)
    {
        if (slots <= _starts.Length)
        {
            return;
        }
        Array.Resize(ref _starts, slots);
        Array.Resize(ref _lengths, slots);
    }

    /// <summary>
    /// Splits an inline line into arguments the way redis-cli and Redis do (sdssplitargs): blanks separate arguments;
    /// "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes' take \'; a closing quote must be
    /// followed by a blank or the end. A NUL ends the line, as it ends Redis' C string. False on unbalanced quotes.
    /// </summary>
    private bool SplitInline(ReadOnlySpan<byte> line)
    {
        int nul = line.IndexOf((byte)0);
        if (nul >= 0)
        {
            line = line[..nul];
        }
        if (_inline.Length < line.Length)
        {
            _inline = new byte[Math.Max(line.Length, 64)];
        }
        int written = 0;
        int p = 0;
        _count = 0;
        while (true)
        {
            while (p < line.Length && IsSpace(line[p]))
            {
                p++;
            }
            if (p == line.Length)
            {
                return true;
            }
            int argStart = written;
            bool inDouble = false;
            bool inSingle = false;
            bool done = false;
            while (!done)
            {
                if (inDouble)
                {
                    if (p == line.Length)
                    {
                        return false;
                    }
                    byte c = line[p];
                    if (c == (byte)'\\' && p + 3 < line.Length && line[p + 1] == (byte)'x' && IsHex(line[p + 2]) && IsHex(line[p + 3]))
                    {
                        _inline[written++] = (byte)(HexValue(line[p + 2]) * 16 + HexValue(line[p + 3]));
                        p += 3;
                    }
                    else if (c == (byte)'\\' && p + 1 < line.Length)
                    {
                        p++;
                        _inline[written++] = line[p] switch
                        {
                            (byte)'n' => (byte)'\n',
                            (byte)'r' => (byte)'\r',
                            (byte)'t' => (byte)'\t',
                            (byte)'b' => (byte)'\b',
                            (byte)'a' => (byte)'\a',
                            byte other => other,
                        };
                    }
                    else if (c == (byte)'"')
                    {
                        if (p + 1 < line.Length && !IsSpace(line[p + 1]))
                        {
                            return false;
                        }
                        done = true;
                    }
                    else
                    {
                        _inline[written++] = c;
                    }
                }
                else if (inSingle)
                {
                    if (p == line.Length)
                    {
                        return false;
                    }
                    byte c = line[p];
                    if (c == (byte)'\\' && p + 1 < line.Length && line[p + 1] == (byte)'\'')
                    {
                        p++;
                        _inline[written++] = (byte)'\'';
                    }
                    else if (c == (byte)'\'')
                    {
                        if (p + 1 < line.Length && !IsSpace(line[p + 1]))
                        {
                            return false;
                        }
                        done = true;
                    }
                    else
                    {
                        _inline[written++] = c;
                    }
                }
                else if (p == line.Length)
                {
                    done = true;
                }
                else
                {
                    switch (line[p])
                    {
                        case (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t':
                            done = true;
                            break;
                        case (byte)'"':
                            inDouble = true;
                            break;
                        case (byte)'\'':
                            inSingle = true;
                            break;
                        default:
                            _inline[written++] = line[p];
                            break;
                    }
                }
                if (p < line.Length)
                {
                    p++;
                }
            }
            if (_count == _starts.Length)
            {
                EnsureSlots(_count * 2);
            }
            _starts[_count] = ~argStart;
            _lengths[_count] = written - argStart;
            _count++;
        }
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static bool IsHex(byte c) => char.IsAsciiHexDigit((char)c);

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/// <summary>The arguments of one parsed command, read in place (no copies). Valid until the parser's next call.</summary>
internal readonly ref struct RespArgs
{
    private readonly RespParser _parser;
    private readonly ReadOnlySpan<byte> _input;

    public RespArgs(RespParser parser, ReadOnlySpan<byte> input)
    {
        _parser = parser;
        _input = input;
    }

    public int Count => _parser.Count;

    public ReadOnlySpan<byte> this[int index] => _parser.Argument(_input, index);
}

/// <summary>Redis' integer syntax (string2ll): optional '-', no '+', no blanks, no leading zeros, within 64 bits.</summary>
internal static class RespNumber
{
    public static bool TryParseInt64(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 20)
        {
            return false;
        }
        if (text.Length == 1 && text[0] == (byte)'0')
        {
            return true;
        }
        bool negative = text[0] == (byte)'-';
        int i = negative ? 1 : 0;
        if (i == text.Length || text[i] < (byte)'1' || text[i] > (byte)'9')
        {
            return false;
        }
        ulong magnitude = 0;
        for (; i < text.Length; i++)
        {
            uint digit = (uint)(text[i] - '0');
            if (digit > 9 || magnitude > (ulong.MaxValue - digit) / 10)
            {
                return false;
            }
            magnitude = magnitude * 10 + digit;
        }
        if (negative)
        {
            if (magnitude > (ulong)long.MaxValue + 1)
            {
                return false;
            }
            value = (long)(0 - magnitude);
            return true;
        }
        if (magnitude > long.MaxValue)
        {
            return false;
        }
        value = (long)magnitude;
        return true;
    }
}
