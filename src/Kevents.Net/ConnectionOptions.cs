using Kevents.Net.Internal;

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
    /// <remarks>
    /// Output counts as activity: a peer that never sends anything but is sent something (a broadcast, a feed) at least
    /// once per timeout is never idle. To drop peers that stop speaking whatever they are sent, use
    /// <see cref="InputIdleTimeout"/>. While queued output waits for a slow peer and
    /// <see cref="MinResponseDataRate"/> is on, that check judges the connection and this timeout waits.
    /// </remarks>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>
    /// A connection from which nothing arrives for this long is aborted, however much is sent to it (unlike
    /// <see cref="IdleTimeout"/>, output does not count). For protocols whose clients must speak, e.g. send a
    /// heartbeat, to stay connected. Time in which the connection is not reading does not count: input paused by
    /// backpressure or <see cref="Connection.PauseInput"/>, or ended by the peer's FIN. Default
    /// <see cref="Timeout.InfiniteTimeSpan"/> (off).
    /// </summary>
    public TimeSpan InputIdleTimeout { get; set; } = Timeout.InfiniteTimeSpan;

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
    /// <para>The bytes counted are those the peer took: what it acknowledged (bytes the kernel accepted minus what it
    /// still holds, SIOCOUTQ), so a large or autotuned kernel send buffer does not hide a steady reader. The kernel
    /// shows that progress in steps, typically about 90 KiB (a receiver reopens its window a receive buffer at a time;
    /// a Unix socket frees a whole send buffer once it is read), so a reader cannot be judged faster than a step takes
    /// to show.</para>
    /// <para>Measurement runs in windows, the first starting when output begins to wait; each lasts
    /// <see cref="MinResponseDataRateGracePeriod"/> or the time the minimum rate takes to add up to 160 KiB, whichever
    /// is longer (the grace period of 5 s from 32 KiB/s up; about 11 minutes at the default 240 B/s). At the end of
    /// each window the bytes the peer took during it are compared with the minimum: a peer reading at twice the minimum
    /// or faster is never aborted (for progress steps up to 128 KiB), one reading at half of it or slower is aborted
    /// within two windows, and one that stops reading one to two windows later, however fast it read before. While
    /// output waits this check, not <see cref="IdleTimeout"/>, judges the connection. The check runs on the
    /// connection's own timer once per window; nothing is done per byte.</para>
    /// </remarks>
    public double? MinResponseDataRate { get; set; } = 240;

    /// <summary>
    /// How long output may wait before <see cref="MinResponseDataRate"/> is first checked, and the shortest length of each
    /// measurement window after that. Default 5 s (Kestrel). Must be positive while the rate check is enabled;
    /// <see cref="Timeout.InfiniteTimeSpan"/> (or any duration too long to end) means output is never judged.
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
        CheckTimeout(IdleTimeout, nameof(IdleTimeout));
        CheckTimeout(InputIdleTimeout, nameof(InputIdleTimeout));
        if (MinResponseDataRate is { } rate && (double.IsNaN(rate) || double.IsInfinity(rate) || rate < 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MinResponseDataRate), rate,
                "ConnectionOptions.MinResponseDataRate must be a finite rate of at least 0 bytes per second (null or 0 disables the check).");
        }
        if (MinResponseDataRate > 0 && MinResponseDataRateGracePeriod != Timeout.InfiniteTimeSpan && MinResponseDataRateGracePeriod <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MinResponseDataRateGracePeriod), MinResponseDataRateGracePeriod,
                "ConnectionOptions.MinResponseDataRateGracePeriod must be positive (or Timeout.InfiniteTimeSpan) while MinResponseDataRate is set.");
        }
        return this;
    }

    /// <summary>The minimum response rate in bytes per second; 0 when the check is off.</summary>
    internal double MinResponseRate => MinResponseDataRate ?? 0;

    /// <summary>
    /// The length of a measurement window: the grace period, or the time the minimum takes to add up to 1.25 of the
    /// kernel's progress steps if that is longer (see Connection.DataRate.cs). Saturates at "never"; "never" when off.
    /// </summary>
    internal long MinResponseRateWindowNs
    {
        get
        {
            long grace = Durations.ToNanoseconds(MinResponseDataRateGracePeriod);
            double rate = MinResponseRate;
            if (rate <= 0)
            {
                return Durations.Never;
            }
            double stepsNs = Connection.ProgressStepBytes * 1.25 / rate * 1e9;
            return stepsNs >= Durations.Never ? Durations.Never : Math.Max(grace, (long)stepsNs);
        }
    }

    /// <summary>The idle timeout in nanoseconds; <see cref="Durations.Never"/> when off.</summary>
    internal long IdleTimeoutNs => Durations.ToNanoseconds(IdleTimeout);

    /// <summary>The input idle timeout in nanoseconds; <see cref="Durations.Never"/> when off.</summary>
    internal long InputIdleTimeoutNs => Durations.ToNanoseconds(InputIdleTimeout);

    /// <summary>A timeout is positive or <see cref="Timeout.InfiniteTimeSpan"/> ("never"); any length up to TimeSpan.MaxValue is honoured.</summary>
    private static void CheckTimeout(TimeSpan value, string name)
    {
        if (value != Timeout.InfiniteTimeSpan && value <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"ConnectionOptions.{name} must be positive, or Timeout.InfiniteTimeSpan to disable it.");
        }
    }
}
