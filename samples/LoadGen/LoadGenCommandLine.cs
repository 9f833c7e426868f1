using System.CommandLine;
using Kevents.Samples;

namespace LoadGen;

/// <summary>LoadGen's flags, read into a <see cref="LoadOptions"/> the way every sample reads its command line.</summary>
internal sealed class LoadGenCommandLine
{
    private readonly Option<string> _host = SampleOptions.Text("--host", "127.0.0.1", "HOST", "target address or name",
        "an IP address or host name", static host => host.Length > 0);
    private readonly Option<int> _port = SampleOptions.Port(7000, "target TCP port", min: 1);
    private readonly Option<string?> _unix = SampleOptions.UnixPath("target a Unix domain socket instead of TCP");
    private readonly Option<int> _connections = SampleOptions.Int("--connections", 64, 1, 1_000_000, "N", "connections to open", "-c");
    private readonly Option<int> _size = SampleOptions.Int("--size", 64, 1, 64 * 1024 * 1024, "BYTES", "message size");
    private readonly Option<int> _depth = SampleOptions.Int("--depth", 1, 1, 65_536, "K", "closed loop: messages in flight per connection");
    private readonly Option<double> _rate = SampleOptions.Number("--rate", 0, 0, 1e9, "MSGS_PER_SEC",
        "open loop: send at this total rate on a fixed schedule; latency is measured from each message's intended send " +
        "time (0: closed loop)");
    private readonly Option<bool> _spin = SampleOptions.Flag("--spin",
        "open loop: busy-poll the schedule so sends leave on time, not on the loop's millisecond timer (uses a full core per loop)");
    private readonly Option<double> _duration = SampleOptions.Number("--duration", 5, 0.001, 7 * 24 * 3600, "SEC", "measured time", aliases: "-d");
    private readonly Option<double> _warmup = SampleOptions.Seconds("--warmup", 1, "load before measuring, not recorded", maxSeconds: 24 * 3600);
    private readonly Option<int> _loops = SampleOptions.Int("--loops", 1, 1, 256, "N", "event loops (threads) to spread connections over");
    private readonly Option<double> _timeout = SampleOptions.Number("--timeout", 5, 0.001, 24 * 3600, "SEC",
        "connect timeout, and the longest wait for an answer");
    private readonly Option<int> _churn = SampleOptions.Int("--churn", 0, 0, int.MaxValue, "N",
        "close each connection after N answers and open a new one in its place (connections closed by the server are " +
        "replaced too; 0: keep them)");
    private readonly Option<double> _resetFraction = SampleOptions.Number("--reset-fraction", 0, 0, 1, "F",
        "with --churn: this fraction (0-1) of connections end with a reset (SO_LINGER 0) in the middle of a request " +
        "instead of a clean close");
    // A new scenario gets a name here and a case where the options are read.
    private readonly Option<string> _scenario = SampleOptions.Choice("--scenario", "echo", ["echo", "http", "resp"],
        "what to send: echo (checks every byte), http (GET --path, HTTP/1.1 keep-alive, checks status 200, " +
        "Content-Length framing and --expect-body) or resp (Redis protocol --resp-command, checks every reply)");
    private readonly Option<string> _path = SampleOptions.Text("--path", "/", "PATH", "http: the path to request",
        "a path that starts with / and has no spaces or control characters",
        static path => path.StartsWith('/') && !path.Any(char.IsControl) && !path.Contains(' '));
    private readonly Option<string> _expectBody = SampleOptions.Text("--expect-body", "", "TEXT",
        "http: every response body must be exactly TEXT (UTF-8), byte for byte (default: bodies are counted, not checked)",
        "any text", static _ => true);
    private readonly Option<string> _respCommand = SampleOptions.Choice("--resp-command", "ping", ["ping", "get", "set"],
        "resp: PING (expects +PONG), GET (expects the value SET earlier; each connection first SETs its keys) or SET " +
        "(expects +OK)");
    private readonly Option<int> _keySize = SampleOptions.Int("--key-size", 16, 1, 1024 * 1024, "BYTES", "resp: bytes per key");
    private readonly Option<int> _valueSize = SampleOptions.Int("--value-size", 64, 0, 64 * 1024 * 1024, "BYTES", "resp: bytes per value (get, set)");
    private readonly Option<int> _keys = SampleOptions.Int("--keys", 100, 1, 1_000_000, "N", "resp: keys each connection cycles through (get, set)");
    private readonly Option<bool> _json = SampleOptions.Flag("--json", "print the result as one JSON object on stdout");
    private readonly Option<bool> _quiet = SampleOptions.Flag("--quiet", "no progress line on stderr", "-q");
    private readonly Option<string> _report = SampleOptions.Text("--report", "", "FILE.html",
        "write a self-contained HTML report (settings, throughput over time, latency percentiles, errors, and the server's " +
        "CPU and memory with --server-pid) to FILE.html",
        "a file path", static path => path.Length > 0);
    private readonly Option<int> _serverPid = SampleOptions.Int("--server-pid", 0, 0, int.MaxValue, "PID",
        "with --report: follow this local process's CPU and RSS through /proc once a second (0: none)");
    private readonly SampleCommand _command;

    public LoadGenCommandLine()
    {
        _command = new SampleCommand("LoadGen",
            "Kevents' load generator: echo, HTTP or Redis-protocol load over TCP or a Unix socket, closed or open loop, with latency " +
            "percentiles. Exit code: 0 clean run, 1 mismatches, errors or no messages, 2 bad options.",
            _host, _port, _unix, _connections, _size, _depth, _rate, _spin, _duration, _warmup, _loops, _timeout, _churn,
            _resetFraction, _scenario, _path, _expectBody, _respCommand, _keySize, _valueSize, _keys, _json, _quiet, _report, _serverPid);
        _command.Check(p => p.GetValue(_resetFraction) > 0 && p.GetValue(_churn) == 0
            ? "--reset-fraction needs --churn: resets happen where a churning connection ends." : null);
        _command.Check(p => CheckReportPath(p.GetValue(_report)!));
        _command.Check(p => p.GetValue(_serverPid) switch
        {
            0 => null,
            int pid when string.IsNullOrEmpty(p.GetValue(_report)) => $"--server-pid {pid} needs --report: the server's CPU and memory are drawn in the report.",
            int pid when !ServerSampler.Exists(pid) => $"--server-pid {pid}: no such process here (/proc/{pid}/stat does not exist). Give the PID of the running server.",
            _ => null,
        });
    }

    // Checked before the run, so a typo in the path does not cost a whole run's results.
    private static string? CheckReportPath(string path)
    {
        if (path.Length == 0)
        {
            return null;
        }
        if (Directory.Exists(path))
        {
            return $"--report {path} is a directory; give a file name such as {Path.Combine(path, "run.html")}.";
        }
        string directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        if (!Directory.Exists(directory))
        {
            return $"--report {path}: directory {directory} does not exist; create it or give a path in an existing directory.";
        }
        return null;
    }

    /// <summary>
    /// Parses <paramref name="args"/>. False, with the exit code to return, after <c>--help</c> (0) or bad input (2,
    /// reported on <paramref name="stderr"/>).
    /// </summary>
    public bool TryParse(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr,
        out LoadOptions options, out bool json, out bool quiet, out string? report, out int serverPid, out int exitCode)
    {
        options = new LoadOptions();
        json = quiet = false;
        report = null;
        serverPid = 0;
        if (!_command.TryParse(args, stdout, stderr, out ParseResult parsed, out exitCode))
        {
            return false;
        }
        options.Host = parsed.GetValue(_host)!;
        options.Port = parsed.GetValue(_port);
        options.UnixPath = parsed.GetValue(_unix);
        options.Connections = parsed.GetValue(_connections);
        options.MessageSize = parsed.GetValue(_size);
        options.Depth = parsed.GetValue(_depth);
        options.Rate = parsed.GetValue(_rate);
        options.Spin = parsed.GetValue(_spin);
        options.Duration = TimeSpan.FromSeconds(parsed.GetValue(_duration));
        options.Warmup = TimeSpan.FromSeconds(parsed.GetValue(_warmup));
        options.Loops = parsed.GetValue(_loops);
        options.Timeout = TimeSpan.FromSeconds(parsed.GetValue(_timeout));
        options.Churn = parsed.GetValue(_churn);
        options.ResetFraction = parsed.GetValue(_resetFraction);
        options.Path = parsed.GetValue(_path)!;
        options.Scenario = parsed.GetValue(_scenario) switch
        {
            "echo" => new EchoScenario(options.MessageSize),
            "http" => new HttpScenario(options.Path, options.Host,
                parsed.GetValue(_expectBody) is { Length: > 0 } body ? System.Text.Encoding.UTF8.GetBytes(body) : null),
            "resp" => new RespScenario(parsed.GetValue(_respCommand) switch
                {
                    "get" => RespCommand.Get,
                    "set" => RespCommand.Set,
                    _ => RespCommand.Ping,
                },
                parsed.GetValue(_keySize), parsed.GetValue(_valueSize), parsed.GetValue(_keys)),
            _ => throw new System.Diagnostics.UnreachableException(),
        };
        if (options.Scenario is RespScenario resp)
        {
            // The summary's size is the payload each answer is about: the value, for RESP.
            options.MessageSize = resp.ValueSize;
        }
        json = parsed.GetValue(_json);
        quiet = parsed.GetValue(_quiet);
        string reportPath = parsed.GetValue(_report)!;
        report = reportPath.Length == 0 ? null : reportPath;
        serverPid = parsed.GetValue(_serverPid);
        return true;
    }
}
