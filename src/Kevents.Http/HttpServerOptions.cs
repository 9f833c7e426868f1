using Kevents.Net;

namespace Kevents.Http;

/// <summary>Settings of an HTTP server. Defaults are the safe ones a public server needs.</summary>
public sealed class HttpServerOptions
{
    /// <summary>Longest request line (414 above it). Default 8 KiB.</summary>
    public int MaxRequestLine { get; set; } = 8 * 1024;

    /// <summary>Largest header section (431 above it). Default 32 KiB.</summary>
    public int MaxHeaderBytes { get; set; } = 32 * 1024;

    /// <summary>Most header fields (431 above it). Default 100.</summary>
    public int MaxHeaderCount { get; set; } = 100;

    /// <summary>Largest request body, declared or chunked (413 above it). Default 1 MiB.</summary>
    public long MaxRequestBodySize { get; set; } = 1024 * 1024;

    /// <summary>
    /// Time allowed for a request's head to arrive, from its first byte (from accept for a connection's first
    /// request), never extended by later bytes (408 and close). Default 30 s.
    /// </summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The slowest rate, in bytes per second, at which a client must send a request body the server is waiting for;
    /// below it the request is answered 408 (or, when its response has already gone out, the connection is closed)
    /// and the connection closes, logged at Debug. Default 240 B/s (Kestrel's MinRequestBodyDataRate); null or 0
    /// disables the check.
    /// </summary>
    /// <remarks>
    /// The clock runs only while the server waits for body bytes: while the handler awaits
    /// <see cref="HttpRequest.ReadBodyAsync"/>, and while the rest of a body the handler left unread is read and
    /// dropped. Time in which the handler is not reading (before its first read, between reads, or while it works on
    /// a piece) does not count, so a slow application never gets its client blamed. Measurement runs in windows of
    /// <see cref="MinRequestBodyDataRateGracePeriod"/> of that clock: at the end of each, the body bytes that arrived
    /// during it (chunk framing included) over the time it ran are compared with the minimum. A client sending steadily
    /// faster than the minimum is never cut; one sending below it is cut at the end of the first window in which it
    /// fell short. The check runs on the connection's timer once per window; nothing is done per byte.
    /// </remarks>
    public double? MinRequestBodyDataRate { get; set; } = 240;

    /// <summary>
    /// The length of a <see cref="MinRequestBodyDataRate"/> measurement window, counted only while the server waits
    /// for body bytes: the first check comes after this grace period. Default 5 s (Kestrel). Must be positive while
    /// the rate check is enabled; <see cref="Timeout.InfiniteTimeSpan"/> means bodies are never judged.
    /// </summary>
    public TimeSpan MinRequestBodyDataRateGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a connection closing after an error may keep sending before it is cut. Default 2 s.</summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Pipelined requests one connection may have handled in one go before the other connections get their turn.
    /// Default 32: a deep pipeline of small answers cannot hold the loop, and each turn still answers many requests.
    /// </summary>
    public int MaxRequestsPerTurn { get; set; } = 32;

    /// <summary>Bytes of a file body sent to one connection per loop turn before others get theirs. Default 512 KiB.</summary>
    public int MaxSendPerTurn { get; set; } = 512 * 1024;

    /// <summary>
    /// How file bodies not in the page cache are sent. Default <see cref="ColdFileMode.Threadlet"/>: read into the
    /// cache by a threadlet on a cache-miss thread, so a cold file never stalls the loop.
    /// </summary>
    public ColdFileMode ColdFiles { get; set; } = ColdFileMode.Threadlet;

    /// <summary>
    /// Socket settings: connection limit, keep-alive idle timeout (<see cref="ConnectionOptions.IdleTimeout"/>, 75 s),
    /// backlog. Default: <see cref="ServerOptions"/>'s defaults.
    /// </summary>
    public ServerOptions Socket { get; set; } = new();

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestLine, 16, nameof(MaxRequestLine));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHeaderBytes, 64, nameof(MaxHeaderBytes));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxHeaderCount, nameof(MaxHeaderCount));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRequestBodySize, nameof(MaxRequestBodySize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSendPerTurn, 1, nameof(MaxSendPerTurn));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestsPerTurn, 1, nameof(MaxRequestsPerTurn));
        CheckDuration(HeaderTimeout, nameof(HeaderTimeout));
        CheckDuration(LingerTimeout, nameof(LingerTimeout));
        ArgumentNullException.ThrowIfNull(Socket, nameof(Socket));
        if (MinRequestBodyDataRate is { } rate && (double.IsNaN(rate) || double.IsInfinity(rate) || rate < 0))
        {
            throw new ArgumentOutOfRangeException(nameof(MinRequestBodyDataRate), rate,
                "HttpServerOptions.MinRequestBodyDataRate must be a finite rate of at least 0 bytes per second (null or 0 disables the check).");
        }
        if (MinRequestBodyDataRate > 0)
        {
            CheckDuration(MinRequestBodyDataRateGracePeriod, nameof(MinRequestBodyDataRateGracePeriod));
        }
        if (!Enum.IsDefined(ColdFiles))
        {
            throw new ArgumentOutOfRangeException(nameof(ColdFiles), ColdFiles, "HttpServerOptions.ColdFiles must be Threadlet or Inline.");
        }
    }

    /// <summary>The minimum body rate in bytes per second; 0 when the check is off.</summary>
    internal double MinBodyRate => MinRequestBodyDataRate ?? 0;

    /// <summary>The body-rate window in nanoseconds; long.MaxValue ("never") when the check is off.</summary>
    internal long MinBodyRateWindowNs => MinBodyRate > 0 ? ToNanoseconds(MinRequestBodyDataRateGracePeriod) : long.MaxValue;

    private static void CheckDuration(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(name, value,
                $"HttpServerOptions.{name} must be positive, or Timeout.InfiniteTimeSpan for no limit.");
        }
    }

    internal static long ToNanoseconds(TimeSpan value) =>
        value == Timeout.InfiniteTimeSpan || value.Ticks > long.MaxValue / 100 ? long.MaxValue : value.Ticks * 100;
}
