using System.Buffers;
using Kevents.Net;

namespace RespServer;

/// <summary>
/// One client: its parser, the bytes of a command that has not fully arrived (the query buffer), and what CLIENT
/// LIST shows. Commands are parsed straight from the loop's receive buffer; only an incomplete tail is copied, into
/// a pooled buffer that grows with the bytes that really arrived (never with a length the client announced).
/// Loop thread only.
/// </summary>
internal sealed class RespSession : IReplySink, IDisposable
{
    private byte[]? _pending;
    private int _pendingCount;

    public RespSession(long id, StreamConnection? connection, RespLimits limits, long createdMs)
    {
        Id = id;
        Connection = connection;
        Parser = new RespParser(limits);
        CreatedMs = createdMs;
        LastCommandMs = createdMs;
    }

    public long Id { get; }

    /// <summary>The socket, or null when the session is driven in memory (tests, fuzzing).</summary>
    public StreamConnection? Connection { get; }

    public RespParser Parser { get; }

    public string? Name { get; set; }

    public long CreatedMs { get; }

    public long LastCommandMs { get; set; }

    /// <summary>The last command's name, lower case (CLIENT LIST's cmd=).</summary>
    public string LastCommand { get; set; } = "NULL";

    /// <summary>Set by QUIT, a protocol error or the query buffer limit: send what is written, then close.</summary>
    public bool CloseRequested { get; set; }

    /// <summary>Why the session asked to be closed without a reply (the query buffer limit), for the log.</summary>
    public string? CloseReason { get; set; }

    /// <summary>Unparsed bytes held for this client (CLIENT LIST's qbuf=).</summary>
    public int QueryBufferLength => _pendingCount;

    public bool HasPendingInput => _pendingCount > 0;

    private HashSet<byte[]>? _channels;
    private HashSet<byte[]>? _patterns;

    /// <summary>Channels plus patterns this client subscribed to; above 0 it is in subscribed mode.</summary>
    public int SubscriptionCount => (_channels?.Count ?? 0) + (_patterns?.Count ?? 0);

    /// <summary>Where pushed messages go for a session with no socket (tests).</summary>
    public IReplySink? PushSink { get; set; }

    /// <summary>The channels (or patterns) this client subscribed to.</summary>
    public HashSet<byte[]> Subscriptions(bool pattern) => pattern
        ? _patterns ??= new HashSet<byte[]>(ByteKeyComparer.Instance)
        : _channels ??= new HashSet<byte[]>(ByteKeyComparer.Instance);

    /// <summary>Sends a published message to this subscriber.</summary>
    public void Push(byte[] message)
    {
        if (Connection is not null)
        {
            Connection.Write(message);
        }
        else
        {
            PushSink?.Send(message);
        }
    }

    // The server's list of live sessions (CLIENT LIST, shutdown).
    internal RespSession? Previous;
    internal RespSession? Next;

    /// <summary>
    /// Runs every complete command in what has arrived (held bytes first, then <paramref name="data"/>), writing the
    /// replies to the server's writer. Stops early when the client must be closed or its output is backed up
    /// (the rest is held, and <see cref="Resume"/> goes on once output drains).
    /// </summary>
    public void Process(ReadOnlySpan<byte> data, KeyValueServer server)
    {
        if (CloseRequested)
        {
            return;
        }
        if (_pendingCount == 0)
        {
            int used = Run(data, server);
            if (!CloseRequested)
            {
                Hold(data[used..], server.Options.MaxQueryBuffer);
            }
            return;
        }
        Hold(data, server.Options.MaxQueryBuffer);
        Resume(server);
    }

    /// <summary>Runs commands from the held bytes (after output drained, or once new bytes were appended).</summary>
    public void Resume(KeyValueServer server)
    {
        if (CloseRequested || _pendingCount == 0)
        {
            return;
        }
        int used = Run(_pending.AsSpan(0, _pendingCount), server);
        if (!CloseRequested)
        {
            Drop(used);
        }
    }

    private int Run(ReadOnlySpan<byte> buffer, KeyValueServer server)
    {
        int position = 0;
        while (position < buffer.Length)
        {
            if (server.OutputBackedUp(this))
            {
                break;
            }
            ReadOnlySpan<byte> rest = buffer[position..];
            switch (Parser.Parse(rest, out int used))
            {
                case RespParseStatus.Command:
                    position += used;
                    server.Execute(this, Parser.Arguments(rest));
                    if (CloseRequested)
                    {
                        return position;
                    }
                    break;
                case RespParseStatus.Skipped:
                    position += used;
                    break;
                case RespParseStatus.NeedMore:
                    return position;
                default:
                    server.ProtocolError(this, Parser.Error!);
                    CloseRequested = true;
                    return position;
            }
        }
        return position;
    }

    private void Hold(ReadOnlySpan<byte> data, long maxQueryBuffer)
    {
        if (data.IsEmpty)
        {
            return;
        }
        long needed = (long)_pendingCount + data.Length;
        if (needed > maxQueryBuffer)
        {
            // Redis closes such a client without a reply ("closing client that reached max query buffer length").
            CloseRequested = true;
            CloseReason = $"query buffer of {needed} bytes is over the limit of {maxQueryBuffer}";
            return;
        }
        if (_pending is null || needed > _pending.Length)
        {
            // Double what arrived, capped by the limit: growth follows the bytes, not a declared length.
            long size = Math.Min(Math.Max(needed, (_pending?.Length ?? 2048) * 2L), Math.Min(maxQueryBuffer, Array.MaxLength));
            byte[] bigger = Rent((int)Math.Max(size, needed));
            if (_pending is not null)
            {
                _pending.AsSpan(0, _pendingCount).CopyTo(bigger);
                Release(_pending);
            }
            _pending = bigger;
        }
        data.CopyTo(_pending.AsSpan(_pendingCount));
        _pendingCount += data.Length;
    }

    private void Drop(int used)
    {
        if (used == 0)
        {
            return;
        }
        _pendingCount -= used;
        if (_pendingCount == 0)
        {
            Release(_pending!);
            _pending = null;
            return;
        }
        // Only an incomplete command's bytes remain: each byte moves at most once.
        _pending.AsSpan(used, _pendingCount).CopyTo(_pending);
    }

    /// <summary>Replies go straight to the socket (queued by the connection if the kernel cannot take them yet).</summary>
    void IReplySink.Send(ReadOnlySpan<byte> replies) => Connection?.Write(replies);

    public void Dispose()
    {
        if (_pending is not null)
        {
            Release(_pending);
            _pending = null;
            _pendingCount = 0;
        }
    }

    // Small query buffers come from the shared pool; big ones (a large bulk string under way) are the GC's, so one
    // large command does not leave a big array cached in the pool for the life of the process.
    private const int PooledLimit = 1024 * 1024;

    private static byte[] Rent(int size) => size <= PooledLimit ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    private static void Release(byte[] buffer)
    {
        if (buffer.Length <= PooledLimit)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
