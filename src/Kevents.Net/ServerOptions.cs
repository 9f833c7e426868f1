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
        ArgumentNullException.ThrowIfNull(Connection);
        Connection.Validate();
        return this;
    }
}
