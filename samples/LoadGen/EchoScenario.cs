namespace LoadGen;

/// <summary>
/// Sends <see cref="MessageSize"/>-byte messages and expects every byte back in order. Each connection sends its
/// own slice of a fixed pseudo-random pattern, so a byte that is changed, lost, duplicated, reordered or delivered
/// to the wrong connection shows up as a mismatch.
/// </summary>
public sealed class EchoScenario : ILoadScenario
{
    // A prime length, so a connection's stream is not periodic at any power-of-two message size, and long
    // enough (64 KB) that a shift by anything short of the whole pattern changes the bytes.
    internal const int PatternLength = 65_521;

    private static readonly byte[] s_pattern = CreatePattern();

    /// <summary>The fixed pseudo-random bytes every connection's stream is cut from (the RESP scenario's values too).</summary>
    internal static ReadOnlySpan<byte> Pattern => s_pattern;

    /// <summary>Creates the scenario for messages of <paramref name="messageSize"/> bytes.</summary>
    public EchoScenario(int messageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(messageSize, 1);
        MessageSize = messageSize;
    }

    /// <summary>Bytes per message.</summary>
    public int MessageSize { get; }

    /// <inheritdoc />
    public string Name => "echo";

    /// <inheritdoc />
    public int MaxRequestSize => MessageSize;

    /// <inheritdoc />
    public ILoadSession CreateSession(int connectionIndex) =>
        // 7919 is prime and co-prime with the pattern length, so neighbouring connections start far apart.
        new EchoSession(MessageSize, (int)(connectionIndex * 7919L % PatternLength));

    /// <summary>Copies the pattern from <paramref name="position"/> on into <paramref name="destination"/>, wrapping at its end.</summary>
    internal static void CopyPattern(int position, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int chunk = Math.Min(destination.Length, PatternLength - position);
            s_pattern.AsSpan(position, chunk).CopyTo(destination);
            destination = destination[chunk..];
            position = 0;
        }
    }

    private static byte[] CreatePattern()
    {
        // xorshift32 with a fixed seed: the same bytes on every run and every machine.
        var bytes = new byte[PatternLength];
        uint x = 0x9E3779B9;
        for (int i = 0; i < bytes.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes[i] = (byte)(x >> 24);
        }
        return bytes;
    }

    private sealed class EchoSession(int messageSize, int start) : ILoadSession
    {
        // Both offsets count bytes since the connection opened; the echo must be a prefix of what was sent.
        private long _sent;
        private long _received;
        private int _intoMessage;
        private bool _messageWrong;

        public int WriteRequest(Span<byte> destination)
        {
            Copy(_sent, destination[..messageSize]);
            _sent += messageSize;
            return messageSize;
        }

        public ResponseProgress ReadResponses(ReadOnlySpan<byte> data)
        {
            bool broken = false;
            if (data.Length > _sent - _received)
            {
                // More bytes than were ever sent: check what could be an echo, then give up on the stream.
                data = data[..(int)(_sent - _received)];
                broken = true;
            }
            int completed = 0;
            int mismatched = 0;
            while (!data.IsEmpty)
            {
                int position = (int)((start + _received) % PatternLength);
                int chunk = Math.Min(data.Length, Math.Min(messageSize - _intoMessage, PatternLength - position));
                if (!data[..chunk].SequenceEqual(s_pattern.AsSpan(position, chunk)))
                {
                    _messageWrong = true;
                }
                data = data[chunk..];
                _received += chunk;
                _intoMessage += chunk;
                if (_intoMessage == messageSize)
                {
                    completed++;
                    if (_messageWrong)
                    {
                        mismatched++;
                    }
                    _intoMessage = 0;
                    _messageWrong = false;
                }
            }
            return new ResponseProgress(completed, mismatched, broken);
        }

        private void Copy(long offset, Span<byte> destination) => CopyPattern((int)((start + offset) % PatternLength), destination);
    }
}
