using Kevents.Native;

namespace Kevents.Net;

/// <summary>Settings of a listening server. Every limit has a safe default and can be changed.</summary>
public sealed class ServerOptions
{
    /// <summary>Pending connections the kernel queues before accept. Default 511 (Redis; Kestrel uses 512).</summary>
    public int Backlog { get; set; } = 511;

    /// <summary>SO_REUSEADDR, so a restarted server can bind while old connections linger in TIME_WAIT. Default true.</summary>
    public bool ReuseAddress { get; set; } = true;

    /// <summary>SO_REUSEPORT: several loops (or processes) may listen on the same port and share its connections. Default false.</summary>
    public bool ReusePort { get; set; }

    /// <summary>Connections accepted per loop turn, so an accept storm cannot starve established connections. Default 16.</summary>
    public int AcceptsPerTurn { get; set; } = 16;

    /// <summary>
    /// Most live connections. Over it, new connections are accepted and closed at once (after
    /// <see cref="RejectMessage"/>, if any) and counted. Default 10,000, and never above RLIMIT_NOFILE - 32.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Bytes sent to a connection refused by <see cref="MaxConnections"/> before it is closed. Default none.</summary>
    public ReadOnlyMemory<byte> RejectMessage { get; set; }

    /// <summary>
    /// How long accepting pauses after the process ran out of descriptors (EMFILE/ENFILE). Default 500 ms: accepting
    /// resumes within a second of descriptors being freed, and the loop does not spin meanwhile. Must be positive.
    /// </summary>
    public TimeSpan DescriptorExhaustionPause { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Descriptor numbers kept free for the rest of the process (the runtime needs a few to start a thread, a
    /// file server one per file it sends). The server counts every descriptor the process holds, not only its
    /// connections, and while fewer than this many are left below RLIMIT_NOFILE it accepts new connections and
    /// closes them at once (counted in <see cref="SocketServer.TotalRejected"/>), so the process never reaches
    /// the limit through accepting. Default null: 5% of RLIMIT_NOFILE, at least 16 and at most 256. 0 turns the
    /// check off (the server then relies on its spare descriptor when accept reports EMFILE). Must be below
    /// RLIMIT_NOFILE.
    /// </summary>
    public int? DescriptorReserve { get; set; }

    /// <summary>Limits of every connection the server accepts.</summary>
    public ConnectionOptions Connection { get; set; } = new();

    internal int EffectiveMaxConnections
    {
        get
        {
            long ceiling = Math.Max(1, ProcessLimits.OpenFilesLimit() - 32);
            return (int)Math.Min(MaxConnections, ceiling);
        }
    }

    /// <summary>The reserve in force for a process limited to <paramref name="openFilesLimit"/> descriptors.</summary>
    internal int EffectiveDescriptorReserve(long openFilesLimit) =>
        DescriptorReserve ?? (int)Math.Clamp(openFilesLimit / 20, 16, 256);

    internal ServerOptions Validate()
    {
        if (Backlog < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Backlog), Backlog, "The backlog must be at least 1.");
        }
        if (AcceptsPerTurn < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(AcceptsPerTurn), AcceptsPerTurn, "Accept at least one connection per turn.");
        }
        if (MaxConnections < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "Allow at least one connection.");
        }
        if (DescriptorExhaustionPause <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(DescriptorExhaustionPause), DescriptorExhaustionPause, "ServerOptions.DescriptorExhaustionPause must be positive (a longer pause, up to TimeSpan.MaxValue, only delays accepting again).");
        }
        if (DescriptorReserve is int reserve)
        {
            long limit = ProcessLimits.OpenFilesLimit();
            if (reserve < 0 || reserve >= limit)
            {
                throw new ArgumentOutOfRangeException(nameof(DescriptorReserve), reserve,
                    $"The descriptor reserve must be 0 (off) or more, and below RLIMIT_NOFILE ({limit}).");
            }
        }
        ArgumentNullException.ThrowIfNull(Connection);
        Connection.Validate();
        return this;
    }
}
