namespace Kevents.Net;

/// <summary>Per-connection limits. Every one has a safe default and can be changed.</summary>
public sealed class ConnectionOptions
{
    /// <summary>
    /// Unconsumed input a connection may hold before the loop stops reading its socket; reading resumes when the
    /// application has consumed down to half of it. Default 1 MiB (Kestrel's MaxRequestBufferSize).
    /// </summary>
    public int MaxInputBufferSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Queued output at which writers are paused (a pipe's FlushAsync waits; a stream connection stops reading);
    /// they resume at <see cref="ResumeOutputBufferSize"/>. Default 64 KiB.
    /// </summary>
    public int MaxOutputBufferSize { get; set; } = 64 * 1024;

    /// <summary>Queued output at which paused writers resume. Default 32 KiB.</summary>
    public int ResumeOutputBufferSize { get; set; } = 32 * 1024;

    /// <summary>
    /// Most bytes written to one connection per loop turn, so one fast reader cannot monopolise the loop.
    /// Default 64 KiB (Redis writes at most this much per client per event).
    /// </summary>
    public int MaxWritePerTurn { get; set; } = 64 * 1024;

    /// <summary>
    /// A connection with no input and no output for this long is aborted. Default 75 s (nginx's keepalive_timeout);
    /// <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>TCP_NODELAY on TCP connections (Nagle's algorithm off). Default true.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// The slowest rate, in bytes per second, at which a peer must take output the connection has queued for it;
    /// below it the connection is aborted with <see cref="ConnectionAbortedException"/> (logged at Debug). Default
    /// 240 B/s (Kestrel's MinResponseDataRate); null or 0 disables the check.
    /// </summary>
    /// <remarks>
    /// <para>The rate is measured only while output waits for the socket to become writable: a stream connection's
    /// <see cref="StreamConnection.QueuedOutput"/>, a pipe connection's unsent flushed output, or a
    /// <see cref="Connection.NotifyWritable"/> wait (bytes sent on the descriptor count when reported with
    /// <see cref="Connection.ReportSent"/>). A connection with nothing queued is never judged by it; the idle
    /// timeout governs that case.</para>
    /// <para>Measurement runs in windows of <see cref="MinResponseDataRateGracePeriod"/>, the first starting when
    /// output begins to wait. At the end of each window the bytes the peer took during it are compared with the
    /// minimum, so a peer that stops reading is aborted one to two grace periods later, however fast it read before.
    /// The check runs on the connection's own timer once per window; nothing is done per byte.</para>
    /// </remarks>
    public double? MinResponseDataRate { get; set; } = 240;

    /// <summary>
    /// How long output may wait before <see cref="MinResponseDataRate"/> is first checked, and the length of each
    /// measurement window after that. Default 5 s (Kestrel). Must be positive while the rate check is enabled.
    /// </summary>
    public TimeSpan MinResponseDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    internal ConnectionOptions Validate()
    {
        if (MaxInputBufferSize < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxInputBufferSize), MaxInputBufferSize, "The input cap must be at least 1 KiB.");
        }
        if (MaxOutputBufferSize < 1024 || ResumeOutputBufferSize < 0 || ResumeOutputBufferSize > MaxOutputBufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxOutputBufferSize), MaxOutputBufferSize,
                "The output cap must be at least 1 KiB and the resume level between 0 and the cap.");
        }
        if (MaxWritePerTurn < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWritePerTurn), MaxWritePerTurn, "Write at least 1 KiB per turn.");
        }
        if (IdleTimeout != Timeout.InfiniteTimeSpan && IdleTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTimeout), IdleTimeout, "Use a positive time, or Timeout.InfiniteTimeSpan to disable the idle timeout.");
        }
        if (MinResponseDataRate is { } rate && (double.IsNaN(rate) || double.IsInfinity(rate) || rate < 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MinResponseDataRate), rate, "Use a finite rate of at least 0 bytes per second (null or 0 disables the check).");
        }
        if (MinResponseDataRate > 0 && MinResponseDataRateGracePeriod <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MinResponseDataRateGracePeriod), MinResponseDataRateGracePeriod, "The grace period must be positive while MinResponseDataRate is set.");
        }
        return this;
    }

    /// <summary>The minimum response rate in bytes per second; 0 when the check is off.</summary>
    internal double MinResponseRate => MinResponseDataRate ?? 0;

    internal long MinResponseRateGraceNs => MinResponseDataRateGracePeriod.Ticks * 100;

    internal long IdleTimeoutNs => IdleTimeout == Timeout.InfiniteTimeSpan ? 0 : IdleTimeout.Ticks * 100;
}
