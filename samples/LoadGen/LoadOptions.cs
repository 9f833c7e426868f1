namespace LoadGen;

/// <summary>One load run: the target, the shape of the load, and how long it lasts.</summary>
public sealed class LoadOptions
{
    /// <summary>Target host: an IP address or a name (default 127.0.0.1). Ignored when <see cref="UnixPath"/> is set.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Target TCP port (default 7000, the EchoServer's).</summary>
    public int Port { get; set; } = 7000;

    /// <summary>A Unix domain socket to load instead of TCP.</summary>
    public string? UnixPath { get; set; }

    /// <summary>Connections to open (default 64).</summary>
    public int Connections { get; set; } = 64;

    /// <summary>Message size in bytes (default 64).</summary>
    public int MessageSize { get; set; } = 64;

    /// <summary>Closed loop: messages in flight per connection (default 1). A new one is sent as each answer arrives.</summary>
    public int Depth { get; set; } = 1;

    /// <summary>Length of the measured window (default 5 s).</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Load applied before the measured window starts; nothing is recorded during it (default 1 s).</summary>
    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Open loop: messages per second across all connections, sent on a fixed schedule. 0 (default) is closed loop.</summary>
    public double Rate { get; set; }

    /// <summary>
    /// Open loop: keep each loop busy checking the schedule instead of waiting for its millisecond timer, so sends
    /// leave on time (default off; costs one core per loop).
    /// </summary>
    public bool Spin { get; set; }

    /// <summary>Event loops (threads) the connections are spread over, round-robin (default 1).</summary>
    public int Loops { get; set; } = 1;

    /// <summary>
    /// How long a connect may take, and how long a connection may wait for any answer while messages are in flight,
    /// before it counts as a timeout and is dropped (default 5 s).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Churn: each connection closes after this many answers and a new connection takes its place (and its share
    /// of an open-loop schedule). A connection closed by the server or dropped for a timeout is replaced too.
    /// 0 (default) keeps every connection for the whole run.
    /// </summary>
    public int Churn { get; set; }

    /// <summary>
    /// With <see cref="Churn"/>: the fraction (0-1) of connections that end by a reset in the middle of a request
    /// (half of their last request written, then closed with SO_LINGER 0) instead of a clean close after their last
    /// answer. Those half requests are expected to go unanswered and are not errors. Default 0.
    /// </summary>
    public double ResetFraction { get; set; }

    /// <summary>The path the <c>http</c> scenario requests (default "/").</summary>
    public string Path { get; set; } = "/";

    /// <summary>What to send; null means <see cref="EchoScenario"/> with <see cref="MessageSize"/>.</summary>
    public ILoadScenario? Scenario { get; set; }

    /// <summary>True for the fixed-rate open-loop mode.</summary>
    public bool IsOpenLoop => Rate > 0;
}
