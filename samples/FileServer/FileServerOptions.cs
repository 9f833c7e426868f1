using Kevents.Http;

namespace FileServer;

/// <summary>Settings of a <see cref="StaticFileServer"/>. Defaults follow the safe defaults in docs/reliability.md.</summary>
internal sealed class FileServerOptions
{
    /// <summary>The directory served. Default: the current directory.</summary>
    public string Root { get; set; } = ".";

    /// <summary>
    /// Time allowed for a request's head to arrive, measured from its first byte (from accept for a connection's
    /// first request) and never extended by later bytes. Default 30 s (Kestrel's RequestHeadersTimeout).
    /// </summary>
    public TimeSpan HeaderTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A keep-alive connection with no traffic for this long is closed. Default 75 s (nginx).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>How long a connection being closed after an error may keep sending before it is cut. Default 2 s.</summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest request line (414 above it). Default 8 KiB.</summary>
    public int MaxRequestLine { get; set; } = 8 * 1024;

    /// <summary>Largest header section (431 above it). Default 32 KiB.</summary>
    public int MaxHeaderBytes { get; set; } = 32 * 1024;

    /// <summary>Most header fields (431 above it). Default 100.</summary>
    public int MaxHeaderCount { get; set; } = 100;

    /// <summary>
    /// Bytes sent to one connection per loop turn before others get theirs. Default 512 KiB: large enough that a
    /// 1 MiB file takes two sendfile calls on loopback, small enough that 64 busy downloads leave the loop within
    /// a few milliseconds.
    /// </summary>
    public int MaxSendPerTurn { get; set; } = 512 * 1024;

    /// <summary>
    /// Pipelined requests one connection may have handled in one loop turn before the others get theirs. Default
    /// 32: a deep pipeline of small answers cannot hold the loop, and each turn still answers many requests.
    /// </summary>
    public int MaxRequestsPerTurn { get; set; } = 32;

    /// <summary>
    /// Bodies up to this size are read (from the page cache, without blocking) into the buffer behind the headers
    /// and go out with them in one send; larger ones go through sendfile. Default 16 KiB.
    /// </summary>
    public int SmallFileLimit { get; set; } = 16 * 1024;

    /// <summary>
    /// How a body whose pages are not in the page cache is sent. Default <see cref="ColdFileMode.Threadlet"/>: a
    /// threadlet reads it into the cache on a cache-miss thread, so one download of a cold file does not stall every
    /// other connection for the disk's time; <see cref="ColdFileMode.Inline"/> sends it with sendfile on the loop.
    /// </summary>
    public ColdFileMode ColdFiles { get; set; } = ColdFileMode.Threadlet;

    /// <summary>
    /// Most connections. Default 10,000, capped at half of RLIMIT_NOFILE less a reserve of 5% (16 to 256) kept free
    /// for the runtime: each connection sending a file holds two descriptors.
    /// </summary>
    public int MaxConnections { get; set; } = 10_000;
}
