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
        return this;
    }

    internal long IdleTimeoutNs => IdleTimeout == Timeout.InfiniteTimeSpan ? 0 : IdleTimeout.Ticks * 100;
}
