using System.Globalization;

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

    /// <summary>The usage text printed for --help and after a bad flag.</summary>
    public const string Usage = """
        Usage: LoadGen [options]
          --host HOST          target address or name (default 127.0.0.1)
          --port N             target TCP port (default 7000)
          --unix PATH          target a Unix domain socket instead of TCP
          --connections N      connections to open (default 64)
          --size BYTES         message size (default 64)
          --depth K            closed loop: messages in flight per connection (default 1)
          --rate MSGS_PER_SEC  open loop: send at this total rate on a fixed schedule; latency is measured from
                               each message's intended send time (default 0: closed loop)
          --spin               open loop: busy-poll the schedule so sends leave on time, not on the
                               loop's millisecond timer (uses a full core per loop)
          --duration SEC       measured time (default 5)
          --warmup SEC         load before measuring, not recorded (default 1)
          --loops N            event loops (threads) to spread connections over (default 1)
          --timeout SEC        connect timeout, and the longest wait for an answer (default 5)
          --churn N            close each connection after N answers and open a new one in its place
                               (connections closed by the server are replaced too; default 0: keep them)
          --reset-fraction F   with --churn: this fraction (0-1) of connections end with a reset (SO_LINGER 0)
                               in the middle of a request instead of a clean close (default 0)
          --scenario echo|http what to send: echo (checks every byte) or http (GET --path, HTTP/1.1 keep-alive,
                               checks status 200 and Content-Length framing)
          --path PATH          http: the path to request (default /)
          --json               print the result as one JSON object on stdout
          --quiet              no progress line on stderr
          --help               show this text
        Exit code: 0 clean run, 1 mismatches, errors or no messages, 2 bad options.
        """;

    /// <summary>
    /// Parses command-line flags. Returns the options, or null with <paramref name="error"/> set (a bad flag)
    /// or with <paramref name="help"/> set (--help).
    /// </summary>
    public static LoadOptions? Parse(IReadOnlyList<string> args, out bool json, out bool quiet, out bool help, out string? error)
    {
        var options = new LoadOptions();
        json = quiet = help = false;
        error = null;
        string scenario = "echo";
        for (int i = 0; i < args.Count; i++)
        {
            string flag = args[i];
            switch (flag)
            {
                case "--help" or "-h":
                    help = true;
                    return null;
                case "--json":
                    json = true;
                    continue;
                case "--quiet" or "-q":
                    quiet = true;
                    continue;
                case "--spin":
                    options.Spin = true;
                    continue;
            }
            if (i + 1 >= args.Count)
            {
                error = IsKnown(flag) ? $"{flag} needs a value." : $"unknown option '{flag}'.";
                return null;
            }
            string value = args[++i];
            bool ok = flag switch
            {
                "--host" => Set(value.Length > 0, () => options.Host = value),
                "--port" => TryInt(value, 1, 65535, v => options.Port = v),
                "--unix" => Set(value.Length > 0, () => options.UnixPath = value),
                "--connections" or "-c" => TryInt(value, 1, 1_000_000, v => options.Connections = v),
                "--size" => TryInt(value, 1, 64 * 1024 * 1024, v => options.MessageSize = v),
                "--depth" => TryInt(value, 1, 65_536, v => options.Depth = v),
                "--rate" => TryDouble(value, 0, 1e9, v => options.Rate = v),
                "--duration" or "-d" => TryDouble(value, 0.001, 7 * 24 * 3600, v => options.Duration = TimeSpan.FromSeconds(v)),
                "--warmup" => TryDouble(value, 0, 24 * 3600, v => options.Warmup = TimeSpan.FromSeconds(v)),
                "--loops" => TryInt(value, 1, 256, v => options.Loops = v),
                "--timeout" => TryDouble(value, 0.001, 24 * 3600, v => options.Timeout = TimeSpan.FromSeconds(v)),
                "--churn" => TryInt(value, 0, int.MaxValue, v => options.Churn = v),
                "--reset-fraction" => TryDouble(value, 0, 1, v => options.ResetFraction = v),
                "--path" => Set(value.StartsWith('/') && !value.Any(char.IsControl) && !value.Contains(' '), () => options.Path = value),
                "--scenario" => Set(value is "echo" or "http", () => scenario = value),
                _ => false,
            };
            if (!ok)
            {
                error = IsKnown(flag) ? $"bad value '{value}' for {flag}." : $"unknown option '{flag}'.";
                return null;
            }
        }
        if (options.ResetFraction > 0 && options.Churn == 0)
        {
            error = "--reset-fraction needs --churn: resets happen where a churning connection ends.";
            return null;
        }
        // New scenarios (RESP) get a name here and in --scenario's check above.
        options.Scenario = scenario switch
        {
            "echo" => new EchoScenario(options.MessageSize),
            "http" => new HttpScenario(options.Path, options.Host),
            _ => throw new System.Diagnostics.UnreachableException(),
        };
        return options;
    }

    private static bool IsKnown(string flag) => flag is "--host" or "--port" or "--unix" or "--connections" or "-c" or "--size"
        or "--depth" or "--rate" or "--duration" or "-d" or "--warmup" or "--loops" or "--timeout" or "--scenario" or "--churn" or "--reset-fraction" or "--path";

    private static bool Set(bool valid, Action apply)
    {
        if (valid)
        {
            apply();
        }
        return valid;
    }

    private static bool TryInt(string text, int min, int max, Action<int> apply) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && Set(v >= min && v <= max, () => apply(v));

    private static bool TryDouble(string text, double min, double max, Action<double> apply) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
        && Set(v >= min && v <= max, () => apply(v));
}
