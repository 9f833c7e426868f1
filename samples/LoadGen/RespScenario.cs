using System.Buffers.Text;

namespace LoadGen;

/// <summary>The command a <see cref="RespScenario"/> sends.</summary>
public enum RespCommand
{
    /// <summary><c>PING</c>, answered <c>+PONG</c>.</summary>
    Ping,

    /// <summary><c>GET key</c>, answered with the bulk string the key was set to.</summary>
    Get,

    /// <summary><c>SET key value</c>, answered <c>+OK</c>.</summary>
    Set,
}

/// <summary>
/// Redis protocol (RESP2) load: PING, GET or SET sent as multibulk arrays, pipelined up to the depth, every reply
/// checked. A key's value is a function of the key (a slice of the echo scenario's pseudo-random pattern picked by
/// the key's number), so any connection, any run and any server agree on what GET must return; GET first SETs each
/// of its connection's keys once, so every GET has a known answer. An error reply, a nil, a reply of the wrong type
/// or a byte that differs counts as a mismatch; a reply that cannot be framed (an array, a malformed length, bytes
/// nobody asked for) breaks the connection.
/// </summary>
public sealed class RespScenario : ILoadScenario
{
    // Simple-string and error lines longer than this are not replies this scenario can follow.
    internal const int MaxLineBytes = 4096;

    // Entries of a session's queue of expected replies: a key number (>= 0) means "the bulk value of that key".
    private const int ExpectPong = -1;
    private const int ExpectOk = -2;

    private readonly int _keyDigits;
    private readonly int _keyModulus;

    /// <summary>Creates the scenario.</summary>
    /// <param name="command">What to send.</param>
    /// <param name="keySize">Bytes per key (at least 1): 'k's, then the key's number in as many decimal digits as fit (at most 9).</param>
    /// <param name="valueSize">Bytes per value (SET, GET).</param>
    /// <param name="keysPerConnection">How many keys each connection cycles through (SET, GET).</param>
    public RespScenario(RespCommand command, int keySize = 16, int valueSize = 64, int keysPerConnection = 100)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keySize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(valueSize, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(keysPerConnection, 1);
        Command = command;
        KeySize = keySize;
        ValueSize = valueSize;
        KeysPerConnection = keysPerConnection;
        _keyDigits = Math.Min(keySize, 9);
        _keyModulus = (int)Math.Pow(10, _keyDigits);
        // GET sends the SETs that load its keys too, so SET is the longest request of both.
        MaxRequestSize = command == RespCommand.Ping ? "*1\r\n$4\r\nPING\r\n".Length : SetLength(keySize, valueSize);
    }

    /// <summary>The command sent.</summary>
    public RespCommand Command { get; }

    /// <summary>Bytes per key.</summary>
    public int KeySize { get; }

    /// <summary>Bytes per value.</summary>
    public int ValueSize { get; }

    /// <summary>Keys each connection cycles through.</summary>
    public int KeysPerConnection { get; }

    /// <inheritdoc />
    public string Name => "resp";

    /// <inheritdoc />
    public string Detail => Command == RespCommand.Ping
        ? "ping"
        : FormattableString.Invariant($"{Command.ToString().ToLowerInvariant()}, {KeySize}-byte keys, {ValueSize}-byte values, {KeysPerConnection} keys per connection");

    /// <inheritdoc />
    public int MaxRequestSize { get; }

    /// <inheritdoc />
    public ILoadSession CreateSession(int connectionIndex) => new RespSession(this, connectionIndex);

    /// <summary>The key number that key <paramref name="j"/> of connection <paramref name="connectionIndex"/> uses.</summary>
    internal int KeyNumber(int connectionIndex, int j) => (int)(((long)connectionIndex * KeysPerConnection + j) % _keyModulus);

    /// <summary>Writes key number <paramref name="number"/>: 'k' padding, then the number zero-padded to the digits that fit.</summary>
    internal void WriteKey(int number, Span<byte> destination)
    {
        destination[..(KeySize - _keyDigits)].Fill((byte)'k');
        Span<byte> digits = destination.Slice(KeySize - _keyDigits, _keyDigits);
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + number % 10);
            number /= 10;
        }
    }

    /// <summary>Where key number <paramref name="number"/>'s value starts in the pattern.</summary>
    internal static int ValueStart(int number) => (int)(number * 7919L % EchoScenario.PatternLength);

    /// <summary>Writes the value of key number <paramref name="number"/>.</summary>
    internal void WriteValue(int number, Span<byte> destination) => EchoScenario.CopyPattern(ValueStart(number), destination[..ValueSize]);

    private static int SetLength(int keySize, int valueSize) =>
        "*3\r\n$3\r\nSET\r\n".Length + BulkLength(keySize) + BulkLength(valueSize);

    private static int BulkLength(int size) => 1 + Digits(size) + 2 + size + 2;

    private static int Digits(int value) => value < 10 ? 1 : 1 + Digits(value / 10);

    private static int WriteBulkHeader(int length, Span<byte> destination)
    {
        destination[0] = (byte)'$';
        Utf8Formatter.TryFormat(length, destination[1..], out int written);
        "\r\n"u8.CopyTo(destination[(1 + written)..]);
        return written + 3;
    }

    private enum ReadState
    {
        Type,
        Line,
        BulkLength,
        BulkBody,
        BulkEnd,
    }

    private sealed class RespSession(RespScenario scenario, int connectionIndex) : ILoadSession
    {
        // What each request in flight expects, in order: ExpectPong, ExpectOk or a key number.
        private readonly Queue<int> _expected = new();
        private readonly byte[] _line = new byte[MaxLineBytes];
        private int _lineLength;
        private byte _type;
        private ReadState _state;
        private bool _wrong;
        private int _expectedKey;
        private long _bulkLeft;
        private int _bulkOffset;
        private int _bulkEndSeen;
        private int _sets;
        private int _nextKey;

        public int WriteRequest(Span<byte> destination)
        {
            if (scenario.Command == RespCommand.Ping)
            {
                _expected.Enqueue(ExpectPong);
                "*1\r\n$4\r\nPING\r\n"u8.CopyTo(destination);
                return 14;
            }
            int j = _nextKey;
            _nextKey = (_nextKey + 1) % scenario.KeysPerConnection;
            int number = scenario.KeyNumber(connectionIndex, j);
            if (scenario.Command == RespCommand.Set || _sets < scenario.KeysPerConnection)
            {
                // GET loads its keys first, in the same order it will read them.
                _sets++;
                _expected.Enqueue(ExpectOk);
                return WriteCommand("*3\r\n$3\r\nSET\r\n"u8, number, withValue: true, destination);
            }
            _expected.Enqueue(number);
            return WriteCommand("*2\r\n$3\r\nGET\r\n"u8, number, withValue: false, destination);
        }

        private int WriteCommand(ReadOnlySpan<byte> head, int number, bool withValue, Span<byte> destination)
        {
            head.CopyTo(destination);
            int at = head.Length;
            at += WriteBulkHeader(scenario.KeySize, destination[at..]);
            scenario.WriteKey(number, destination[at..]);
            at += scenario.KeySize;
            "\r\n"u8.CopyTo(destination[at..]);
            at += 2;
            if (withValue)
            {
                at += WriteBulkHeader(scenario.ValueSize, destination[at..]);
                scenario.WriteValue(number, destination[at..]);
                at += scenario.ValueSize;
                "\r\n"u8.CopyTo(destination[at..]);
                at += 2;
            }
            return at;
        }

        public ResponseProgress ReadResponses(ReadOnlySpan<byte> data)
        {
            int completed = 0;
            int mismatched = 0;
            while (!data.IsEmpty)
            {
                switch (_state)
                {
                    case ReadState.Type:
                        if (!_expected.TryPeek(out _expectedKey))
                        {
                            return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        _type = data[0];
                        data = data[1..];
                        _lineLength = 0;
                        _wrong = false;
                        switch (_type)
                        {
                            case (byte)'+' or (byte)'-' or (byte)':':
                                _state = ReadState.Line;
                                break;
                            case (byte)'$':
                                _state = ReadState.BulkLength;
                                break;
                            default:
                                // Arrays (no command here answers with one) and anything else cannot be followed.
                                return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        break;
                    case ReadState.Line:
                    case ReadState.BulkLength:
                        if (!TakeLine(ref data, out bool lineDone))
                        {
                            return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        if (!lineDone)
                        {
                            break;
                        }
                        ReadOnlySpan<byte> line = _line.AsSpan(0, _lineLength);
                        if (_state == ReadState.Line)
                        {
                            bool right = _type == (byte)'+' && (_expectedKey == ExpectPong ? line.SequenceEqual("PONG"u8)
                                : _expectedKey == ExpectOk && line.SequenceEqual("OK"u8));
                            Complete(!right, ref completed, ref mismatched);
                            break;
                        }
                        if (!TryParseLength(line, out long length))
                        {
                            return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        if (length < 0)
                        {
                            // Nil: the key was not there.
                            Complete(wrong: true, ref completed, ref mismatched);
                            break;
                        }
                        _wrong = _expectedKey < 0 || length != scenario.ValueSize;
                        _bulkLeft = length;
                        _bulkOffset = ValueStart(Math.Max(0, _expectedKey));
                        _bulkEndSeen = 0;
                        _state = ReadState.BulkBody;
                        break;
                    case ReadState.BulkBody:
                    {
                        int take = (int)Math.Min(_bulkLeft, data.Length);
                        if (!_wrong)
                        {
                            // Compare in pieces that do not run past the end of the pattern.
                            ReadOnlySpan<byte> piece = data[..take];
                            while (!piece.IsEmpty && !_wrong)
                            {
                                int chunk = Math.Min(piece.Length, EchoScenario.PatternLength - _bulkOffset);
                                _wrong = !piece[..chunk].SequenceEqual(EchoScenario.Pattern.Slice(_bulkOffset, chunk));
                                piece = piece[chunk..];
                                _bulkOffset = (_bulkOffset + chunk) % EchoScenario.PatternLength;
                            }
                        }
                        data = data[take..];
                        _bulkLeft -= take;
                        if (_bulkLeft == 0)
                        {
                            _state = ReadState.BulkEnd;
                        }
                        break;
                    }
                    case ReadState.BulkEnd:
                        // The CRLF after the bulk's bytes; anything else means the length did not frame the reply.
                        if (data[0] != (_bulkEndSeen == 0 ? (byte)'\r' : (byte)'\n'))
                        {
                            return new ResponseProgress(completed, mismatched, Broken: true);
                        }
                        data = data[1..];
                        if (++_bulkEndSeen == 2)
                        {
                            Complete(_wrong, ref completed, ref mismatched);
                        }
                        break;
                }
            }
            return new ResponseProgress(completed, mismatched);
        }

        private void Complete(bool wrong, ref int completed, ref int mismatched)
        {
            _expected.Dequeue();
            _state = ReadState.Type;
            completed++;
            if (wrong)
            {
                mismatched++;
            }
        }

        /// <summary>Copies up to a CRLF into the line buffer; false if the line is too long or has a bare CR.</summary>
        private bool TakeLine(ref ReadOnlySpan<byte> data, out bool done)
        {
            done = false;
            int lf = data.IndexOf((byte)'\n');
            int take = lf < 0 ? data.Length : lf + 1;
            if (_lineLength + take > _line.Length)
            {
                return false;
            }
            data[..take].CopyTo(_line.AsSpan(_lineLength));
            _lineLength += take;
            data = data[take..];
            if (lf < 0)
            {
                return true;
            }
            // The line must end in CRLF and hold no other CR.
            if (_lineLength < 2 || _line[_lineLength - 2] != '\r')
            {
                return false;
            }
            _lineLength -= 2;
            if (_line.AsSpan(0, _lineLength).Contains((byte)'\r'))
            {
                return false;
            }
            done = true;
            return true;
        }

        /// <summary>A bulk length: -1, or digits only (no sign, no spaces), below 2^40.</summary>
        private static bool TryParseLength(ReadOnlySpan<byte> text, out long length)
        {
            length = 0;
            if (text.SequenceEqual("-1"u8))
            {
                length = -1;
                return true;
            }
            if (text.IsEmpty || text.Length > 12)
            {
                return false;
            }
            foreach (byte b in text)
            {
                if (b is < (byte)'0' or > (byte)'9')
                {
                    return false;
                }
                length = length * 10 + (b - '0');
            }
            return true;
        }
    }
}
