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
        if (!Enum.IsDefined(ColdFiles))
        {
            throw new ArgumentOutOfRangeException(nameof(ColdFiles), ColdFiles, "HttpServerOptions.ColdFiles must be Threadlet or Inline.");
        }
    }

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
