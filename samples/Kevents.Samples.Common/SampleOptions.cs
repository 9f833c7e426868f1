using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;

namespace Kevents.Samples;

/// <summary>
/// Options for the samples' command lines. Each one checks its value as it is parsed, so a bad value is reported as
/// "--flag must be WHAT IS ALLOWED (got 'VALUE')." and the program exits with code 2 before it starts.
/// The defaults show in <c>--help</c>; descriptions do not repeat them.
/// </summary>
public static class SampleOptions
{
    /// <summary><c>--port N</c>: a TCP port from <paramref name="min"/> (0 asks the kernel for a free one) to 65535.</summary>
    public static Option<int> Port(int defaultPort, string description, int min = 0) =>
        Int("--port", defaultPort, min, 65535, "N", description);

    /// <summary><c>--bind ADDRESS</c>: the IP address a server listens on (default 127.0.0.1).</summary>
    public static Option<IPAddress> Bind(string description) =>
        Create("--bind", IPAddress.Loopback, "ADDRESS", description, "an IP address such as 127.0.0.1, 0.0.0.0, ::1 or ::",
            static (string text, out IPAddress value) => IPAddress.TryParse(text, out value!));

    /// <summary><c>--unix PATH</c>: a Unix domain socket path instead of TCP (no default).</summary>
    public static Option<string?> UnixPath(string description) =>
        Create<string?>("--unix", null, "PATH", description, "a socket path",
            static (string text, out string? value) => (value = text).Length > 0, hasDefault: false);

    /// <summary><c>--max-connections N</c>: a server's connection limit, 1 or more (default 10,000).</summary>
    public static Option<int> MaxConnections(string description) =>
        Int("--max-connections", 10_000, 1, int.MaxValue, "N", description);

    /// <summary>
    /// <c>--loops N</c>: how many event loops (threads) serve, 1 to 1024 (default 1: one loop on the main thread, the
    /// samples' original shape). Above 1 the server runs an EventLoopGroup.
    /// </summary>
    public static Option<int> Loops() =>
        Int("--loops", 1, 1, 1024, "N", "event loops (threads) serving connections; above 1 they form an EventLoopGroup (kevents-loop-0, ...)");

    /// <summary><c>--distribution reuseport|reuseport-cpu|acceptor</c>: how a group listener spreads connections (with <c>--loops</c> above 1).</summary>
    public static Option<string> Distribution() =>
        Choice("--distribution", "reuseport", ["reuseport", "reuseport-cpu", "acceptor"],
            "with --loops above 1: reuseport: one SO_REUSEPORT listener per loop, the kernel hashes connections over them; " +
            "reuseport-cpu: the same with loops pinned to CPUs and each connection served on the CPU that received it " +
            "(needs --loops equal to the CPU count); acceptor: one listener hands each connection to the least-loaded loop");

    /// <summary>The <see cref="Net.LoopDistribution"/> a <see cref="Distribution"/> value names.</summary>
    public static Net.LoopDistribution ParseDistribution(string value) => value switch
    {
        "reuseport-cpu" => Net.LoopDistribution.ReusePortCpu,
        "acceptor" => Net.LoopDistribution.Acceptor,
        _ => Net.LoopDistribution.ReusePort,
    };

    /// <summary>The command-line spelling of <paramref name="distribution"/>.</summary>
    public static string DistributionName(Net.LoopDistribution distribution) => distribution switch
    {
        Net.LoopDistribution.ReusePortCpu => "reuseport-cpu",
        Net.LoopDistribution.Acceptor => "acceptor",
        _ => "reuseport",
    };

    /// <summary>
    /// <c>--backend default|epoll|io_uring</c>: the poller every loop waits in (default: the <c>KEVENTS_BACKEND</c>
    /// environment variable, else epoll). io_uring falls back to epoll, with one warning, where the kernel refuses it.
    /// </summary>
    public static Option<string> Backend() =>
        Choice("--backend", "default", ["default", "epoll", "io_uring"],
            "the loops' poller: epoll, or io_uring (completions; falls back to epoll with a warning where the kernel refuses it); " +
            "default: the KEVENTS_BACKEND environment variable, else epoll");

    /// <summary>The <see cref="LoopBackend"/> a <see cref="Backend"/> value names.</summary>
    public static LoopBackend ParseBackend(string value) =>
        EventLoop.TryParseBackend(value, out LoopBackend backend) ? backend : LoopBackend.Default;

    /// <summary>How a startup line names the backend a loop really got (io_uring may have fallen back to epoll).</summary>
    public static string BackendName(LoopBackend backend) => backend == LoopBackend.IoUring ? "io_uring" : "epoll";

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static Option<int> Int(string name, int defaultValue, int min, int max, string valueName, string description, params string[] aliases) =>
        Create(name, defaultValue, valueName, description,
            max == int.MaxValue ? $"a whole number of at least {min}" : $"a whole number from {min} to {max}",
            (string text, out int value) =>
                int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= min && value <= max,
            aliases: aliases);

    /// <summary>
    /// A finite number from <paramref name="min"/> (or above it, with <paramref name="aboveMin"/>) to
    /// <paramref name="max"/>. Durations are numbers of seconds (value name SEC), fractions allowed.
    /// </summary>
    public static Option<double> Number(string name, double defaultValue, double min, double max, string valueName, string description,
        bool aboveMin = false, params string[] aliases) =>
        Create(name, defaultValue, valueName, description,
            FormattableString.Invariant($"a number {(aboveMin ? "above" : "from")} {min} {(aboveMin ? "and up to" : "to")} {max}"),
            (string text, out double value) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
                && double.IsFinite(value) && (aboveMin ? value > min : value >= min) && value <= max,
            aliases: aliases);

    /// <summary>
    /// A duration in seconds (value name SEC, fractions allowed) from 0, or above 0 with <paramref name="aboveZero"/>,
    /// up to <paramref name="maxSeconds"/> (default a week).
    /// </summary>
    public static Option<double> Seconds(string name, double defaultSeconds, string description, bool aboveZero = false,
        double maxSeconds = 7 * 24 * 3600, params string[] aliases) =>
        Number(name, defaultSeconds, 0, maxSeconds, "SEC", description, aboveZero, aliases);

    /// <summary>One of <paramref name="allowed"/>, spelled exactly.</summary>
    public static Option<string> Choice(string name, string defaultValue, string[] allowed, string description) =>
        Create(name, defaultValue, string.Join('|', allowed), description, $"one of {string.Join(", ", allowed)}",
            (string text, out string value) => Array.IndexOf(allowed, value = text) >= 0);

    /// <summary>Free text that <paramref name="isValid"/> accepts; <paramref name="expected"/> says what that is.</summary>
    public static Option<string> Text(string name, string defaultValue, string valueName, string description, string expected,
        Func<string, bool> isValid) =>
        Create(name, defaultValue, valueName, description, expected, (string text, out string value) => isValid(value = text));

    /// <summary>An on/off switch that takes no value.</summary>
    public static Option<bool> Flag(string name, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, Arity = ArgumentArity.Zero };

    private delegate bool TryConvert<T>(string text, out T value);

    // One parser for every valued option: exactly one token, converted by `convert` (false when it does not fit),
    // and an error that names the flag, what it accepts and what it got.
    private static Option<T> Create<T>(string name, T defaultValue, string valueName, string description, string expected,
        TryConvert<T> convert, bool hasDefault = true, string[]? aliases = null)
    {
        var option = new Option<T>(name, aliases ?? [])
        {
            Description = description,
            HelpName = valueName,
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = result => Convert(result, name, expected, convert),
        };
        if (hasDefault)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }
        return option;
    }

    private static T Convert<T>(ArgumentResult result, string name, string expected, TryConvert<T> convert)
    {
        // Arity has already reported a missing value; an empty token list only reaches here on that path.
        if (result.Tokens.Count == 0)
        {
            return default!;
        }
        string text = result.Tokens[0].Value;
        if (!convert(text, out T value))
        {
            result.AddError($"{name} must be {expected} (got '{text}').");
            return default!;
        }
        return value;
    }
}
