using System.Diagnostics;
using System.Net;
using System.Text;
using Kevents;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace RespServer;

/// <summary>The server's settings. Defaults are Redis' where Redis has one.</summary>
internal sealed class RespServerOptions
{
    public RespLimits Limits { get; init; } = RespLimits.Default;

    /// <summary>Most unparsed bytes held for one client (client-query-buffer-limit); over it the client is closed.</summary>
    public long MaxQueryBuffer { get; init; } = 1024L * 1024 * 1024;

    /// <summary>Most clients; one more is told "-ERR max number of clients reached" and closed (maxclients).</summary>
    public int MaxClients { get; init; } = 10_000;

    /// <summary>Close clients idle this long (Redis' timeout); infinite by default, as in Redis.</summary>
    public TimeSpan IdleTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>How often active expiry samples keys with a time to live (Redis runs it 10 times a second).</summary>
    public TimeSpan ActiveExpiryInterval { get; init; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>
/// A Redis-protocol (RESP2) key-value server on one event loop, on Kevents.Net's low-level stream API: commands are
/// parsed from the loop's receive buffer, replies gathered in one loop-owned buffer and written once per read batch,
/// keys held in this loop's <see cref="KeySpace"/> with active expiry on a loop timer. Each loop has its own key
/// space. Loop thread only (also before the loop runs), except <see cref="ShutdownAsync"/>.
/// </summary>
/// <remarks>
/// Built without a loop (tests, fuzzing), it serves in-memory sessions through <see cref="OpenSession"/> and
/// <see cref="Feed"/> on a caller-given clock.
/// </remarks>
internal sealed class KeyValueServer : IStreamHandler, ILoopTimerTarget, IDisposable
{
    public static readonly byte[] MaxClientsReply = "-ERR max number of clients reached\r\n"u8.ToArray();

    private readonly EventLoop? _loop;
    private readonly ILogger _logger;
    private readonly Stopwatch _uptime = Stopwatch.StartNew();
    private SocketServer? _server;
    private LoopTimer _expiryTimer;
    private RespSession? _first;
    private long _nextClientId;
    private bool _disposed;

    public KeyValueServer(EventLoop? loop, RespServerOptions options, ILogger logger, Func<long>? clockMs = null)
    {
        _loop = loop;
        Options = options;
        _logger = logger;
        Func<long> now = clockMs ?? (loop is not null ? () => loop.NowNanoseconds / 1_000_000 : static () => Environment.TickCount64);
        Keys = new KeySpace(now);
        if (loop is not null)
        {
            _expiryTimer = loop.StartTimer(options.ActiveExpiryInterval, this);
        }
    }

    public RespServerOptions Options { get; }

    public KeySpace Keys { get; }

    public ReplyWriter Writer { get; } = new();

    public PubSub PubSub { get; } = new();

    public EventLoop? Loop => _loop;

    /// <summary>Where the server listens, once <see cref="Listen"/> ran.</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_server?.LocalEndPoint;

    public SocketServer? Server => _server;

    public int ClientCount { get; private set; }

    public long CommandsProcessed { get; private set; }

    public long ConnectionsReceived { get; private set; }

    public long InputBytes { get; private set; }

    public long OutputBytes => Writer.BytesSent;

    public long ProtocolErrors { get; private set; }

    public TimeSpan Uptime => _uptime.Elapsed;

    /// <summary>Starts listening on <paramref name="endPoint"/> (port 0: any free port) and logs where.</summary>
    public static KeyValueServer Start(EventLoop loop, IPEndPoint endPoint, RespServerOptions options, ILogger logger)
    {
        var server = new KeyValueServer(loop, options, logger);
        try
        {
            server.Listen(endPoint);
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

    private void Listen(IPEndPoint endPoint)
    {
        _server = _loop!.ListenTcp(endPoint, this, new ServerOptions
        {
            MaxConnections = Options.MaxClients,
            RejectMessage = MaxClientsReply,
            Connection = new ConnectionOptions { IdleTimeout = Options.IdleTimeout },
        });
        Log.Listening(_logger, LocalEndPoint!.ToString());
    }

    /// <summary>Stops accepting, lets clients finish for up to <paramref name="drainTimeout"/>, then closes the rest.</summary>
    public Task ShutdownAsync(TimeSpan drainTimeout) => _server?.ShutdownAsync(drainTimeout) ?? Task.CompletedTask;

    /// <summary>Every live session, oldest last.</summary>
    public IEnumerable<RespSession> Sessions()
    {
        for (RespSession? s = _first; s is not null; s = s.Next)
        {
            yield return s;
        }
    }

    /// <summary>A session with no socket (tests, fuzzing): feed it with <see cref="Feed"/>, then <see cref="CloseSession"/>.</summary>
    public RespSession OpenSession() => Add(null);

    /// <summary>Runs what <paramref name="data"/> completes for <paramref name="session"/>; its replies go to <paramref name="sink"/>.</summary>
    public void Feed(RespSession session, ReadOnlySpan<byte> data, IReplySink sink)
    {
        Writer.Sink = sink;
        try
        {
            InputBytes += data.Length;
            session.LastCommandMs = Keys.NowMs;
            session.Process(data, this);
            Writer.Flush();
        }
        finally
        {
            Writer.Sink = null;
        }
    }

    public void CloseSession(RespSession session) => Remove(session);

    private RespSession Add(StreamConnection? connection)
    {
        var session = new RespSession(++_nextClientId, connection, Options.Limits, Keys.NowMs) { Next = _first };
        if (_first is not null)
        {
            _first.Previous = session;
        }
        _first = session;
        ClientCount++;
        ConnectionsReceived++;
        return session;
    }

    private void Remove(RespSession session)
    {
        if (session.Previous is null)
        {
            if (_first != session)
            {
                return;
            }
            _first = session.Next;
        }
        else
        {
            session.Previous.Next = session.Next;
        }
        if (session.Next is not null)
        {
            session.Next.Previous = session.Previous;
        }
        session.Previous = session.Next = null;
        ClientCount--;
        PubSub.Forget(session);
        session.Dispose();
    }

    void IStreamHandler.OnConnected(StreamConnection connection)
    {
        connection.State = Add(connection);
    }

    void IStreamHandler.OnData(StreamConnection connection, ReadOnlySpan<byte> data)
    {
        var session = (RespSession)connection.State!;
        Writer.Sink = session;
        InputBytes += data.Length;
        // Once per read, not per command (Redis also stamps a client's last interaction when it reads).
        session.LastCommandMs = Keys.NowMs;
        session.Process(data, this);
        Finish(session);
    }

    void IStreamHandler.OnDrained(StreamConnection connection)
    {
        var session = (RespSession)connection.State!;
        if (session.HasPendingInput)
        {
            Writer.Sink = session;
            session.Resume(this);
            Finish(session);
        }
    }

    void IStreamHandler.OnClosed(StreamConnection connection, Exception? error)
    {
        if (connection.State is RespSession session)
        {
            Remove(session);
        }
    }

    /// <summary>The one write of a read batch; then the close a QUIT or an error asked for.</summary>
    private void Finish(RespSession session)
    {
        Writer.Flush();
        Writer.Sink = null;
        if (session.CloseRequested)
        {
            if (session.CloseReason is not null)
            {
                Log.ClientClosed(_logger, session.Id, session.CloseReason);
            }
            session.Connection!.Close();
        }
    }

    /// <summary>
    /// Between commands: sends the replies gathered so far once they pass the flush threshold, and says whether the
    /// client has stopped taking them (its queued output reached the cap), in which case its remaining commands wait.
    /// </summary>
    internal bool OutputBackedUp(RespSession session)
    {
        if (Writer.Buffered >= ReplyWriter.FlushThreshold)
        {
            Writer.Flush();
        }
        return session.Connection is { IsWriterPaused: true };
    }

    internal void Execute(RespSession session, RespArgs args)
    {
        CommandsProcessed++;
        Commands.Execute(this, session, args);
    }

    internal void ProtocolError(RespSession session, string error)
    {
        ProtocolErrors++;
        Writer.Error("ERR Protocol error: " + error);
        Log.ProtocolError(_logger, session.Id, error);
    }

    void ILoopTimerTarget.OnTimer()
    {
        _expiryTimer = default;
        if (_disposed)
        {
            return;
        }
        Keys.ExpireSample();
        _expiryTimer = _loop!.StartTimer(Options.ActiveExpiryInterval, this);
    }

    /// <summary>INFO's text for the sections asked for (default: all of them).</summary>
    internal string Info(IReadOnlyCollection<string> sections)
    {
        bool all = sections.Count == 0 || sections.Contains("all") || sections.Contains("default") || sections.Contains("everything");
        bool Wants(string name) => all || sections.Contains(name);
        var text = new StringBuilder();
        void Field(string name, object value) => text.Append(name).Append(':').Append(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n");
        void Section(string title)
        {
            if (text.Length > 0)
            {
                text.Append("\r\n");
            }
            text.Append("# ").Append(title).Append("\r\n");
        }
        if (Wants("server"))
        {
            Section("Server");
            Field("redis_version", Commands.ReportedVersion);
            Field("redis_mode", "standalone");
            Field("server_name", "kevents-resp");
            Field("os", System.Runtime.InteropServices.RuntimeInformation.OSDescription);
            Field("arch_bits", IntPtr.Size * 8);
            Field("multiplexing_api", "epoll");
            Field("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
            Field("process_id", Environment.ProcessId);
            Field("tcp_port", LocalEndPoint?.Port ?? 0);
            Field("uptime_in_seconds", (long)Uptime.TotalSeconds);
            Field("uptime_in_days", (long)Uptime.TotalDays);
            Field("hz", (int)Math.Round(1000 / Options.ActiveExpiryInterval.TotalMilliseconds));
            Field("executable", Environment.ProcessPath ?? "");
        }
        if (Wants("clients"))
        {
            Section("Clients");
            Field("connected_clients", ClientCount);
            Field("maxclients", Options.MaxClients);
            Field("blocked_clients", 0);
        }
        if (Wants("memory"))
        {
            Section("Memory");
            long managed = GC.GetTotalMemory(false);
            Field("used_memory", managed);
            Field("used_memory_human", $"{managed / (1024.0 * 1024.0):F2}M");
            Field("used_memory_rss", Environment.WorkingSet);
            Field("used_memory_dataset", Keys.DataBytes);
            Field("maxmemory", 0);
            Field("maxmemory_policy", "noeviction");
            Field("gc_collections_gen0", GC.CollectionCount(0));
            Field("gc_collections_gen2", GC.CollectionCount(2));
        }
        if (Wants("stats"))
        {
            Section("Stats");
            Field("total_connections_received", ConnectionsReceived);
            Field("total_commands_processed", CommandsProcessed);
            Field("total_net_input_bytes", InputBytes);
            Field("total_net_output_bytes", OutputBytes);
            Field("rejected_connections", _server?.TotalRejected ?? 0);
            Field("expired_keys", Keys.ExpiredKeys);
            Field("pubsub_channels", PubSub.ChannelCount);
            Field("pubsub_patterns", PubSub.PatternCount);
            Field("keyspace_hits", Keys.Hits);
            Field("keyspace_misses", Keys.Misses);
            Field("total_error_replies", Writer.ErrorReplies);
            Field("total_protocol_errors", ProtocolErrors);
        }
        if (Wants("replication"))
        {
            Section("Replication");
            Field("role", "master");
            Field("connected_slaves", 0);
        }
        if (Wants("keyspace"))
        {
            Section("Keyspace");
            if (Keys.Count > 0)
            {
                text.Append("db0:keys=").Append(Keys.Count).Append(",expires=").Append(Keys.VolatileCount).Append(",avg_ttl=0\r\n");
            }
        }
        if (Wants("kevents"))
        {
            Section("Kevents");
            Field("loop_name", _loop?.Name ?? "none");
            Field("loop_iterations", _loop?.Iterations ?? 0);
            // Each loop has its own key space; this server runs one loop.
            Field("keyspace_scope", "loop");
            if (_loop is not null)
            {
                foreach ((string name, string value) in LoopMetricsReader.Read(_loop))
                {
                    Field(name, value);
                }
            }
        }
        return text.ToString();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _loop?.StopTimer(ref _expiryTimer);
        _server?.Dispose();
        while (_first is not null)
        {
            Remove(_first);
        }
    }
}
