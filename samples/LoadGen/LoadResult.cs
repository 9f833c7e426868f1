using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoadGen;

/// <summary>What one run measured. Latencies are in microseconds; counts cover the measured window only, except errors and mismatches, which count the whole run.</summary>
public sealed record LoadResult
{
    public required string Scenario { get; init; }
    /// <summary>"closed" (a fixed number in flight) or "open" (a fixed send rate).</summary>
    public required string Mode { get; init; }
    public required string Target { get; init; }
    public int Connections { get; init; }
    public int Connected { get; init; }
    public int Size { get; init; }
    public int Depth { get; init; }
    /// <summary>Requested open-loop rate (0 in closed loop).</summary>
    public double Rate { get; init; }
    public int Loops { get; init; }
    /// <summary>Length of the measured window.</summary>
    public double Seconds { get; init; }
    /// <summary>Answers completed in the measured window.</summary>
    public long Messages { get; init; }
    public double MessagesPerSecond { get; init; }
    /// <summary>Response bytes received per second, in 10^6 bytes.</summary>
    public double MegabytesPerSecond { get; init; }
    public double P50Us { get; init; }
    public double P90Us { get; init; }
    public double P99Us { get; init; }
    public double P999Us { get; init; }
    public double MaxUs { get; init; }
    public double MeanUs { get; init; }
    public long ConnectErrors { get; init; }
    public long Resets { get; init; }
    public long PeerCloses { get; init; }
    public long Timeouts { get; init; }
    public long Errors => ConnectErrors + Resets + PeerCloses + Timeouts;
    public long Mismatches { get; init; }
    /// <summary>Churn: answers per connection before it was replaced (0: no churn).</summary>
    public int Churn { get; init; }
    /// <summary>Churn: connections opened to replace closed ones (whole run).</summary>
    public long Replacements { get; init; }
    /// <summary>Churn: connections that ended with a reset in the middle of a request, on purpose (whole run).</summary>
    public long ResetCloses { get; init; }
    /// <summary>Open loop: sends whose intended time fell in the measured window.</summary>
    public long ScheduledSends { get; init; }
    /// <summary>Open loop: how many of those left more than 1 ms after their intended time.</summary>
    public long LateSends { get; init; }
    public double MaxLagUs { get; init; }
    /// <summary>The first connect error, to say why (e.g. connection refused).</summary>
    public string? FirstError { get; init; }

    /// <summary>
    /// The latency curve: the latency (microseconds) at each of <see cref="CurvePercentiles"/>, from the merged
    /// HdrHistogram of the measured window. Empty when no answer was measured.
    /// </summary>
    public IReadOnlyList<LatencyPoint> Percentiles { get; init; } = [];

    /// <summary>
    /// Connections that failed after connecting (reset, closed by the server, timed out), one by one with their local
    /// address: behind a load balancer, the balancer's log maps that address to the backend it chose. At most
    /// <see cref="LoopWorker.MaxListedErrors"/> per loop; the counters above count every one.
    /// </summary>
    public IReadOnlyList<ConnectionError> ConnectionErrors { get; init; } = [];

    /// <summary>The percentiles <see cref="Percentiles"/> holds: even steps to the median, then ever more nines.</summary>
    public static IReadOnlyList<double> CurvePercentiles { get; } =
        [0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100];

    /// <summary>True for a run worth trusting: messages flowed, every byte matched, nothing failed.</summary>
    public bool IsClean => Messages > 0 && Errors == 0 && Mismatches == 0;

    /// <summary>The one-line summary: space-separated key=value pairs, stable for scripts.</summary>
    public string ToSummaryLine()
    {
        var line = new StringBuilder();
        void Add(string key, FormattableString value) => line.Append(line.Length == 0 ? "" : " ").Append(key).Append('=').Append(value.ToString(CultureInfo.InvariantCulture));
        Add("scenario", $"{Scenario}");
        Add("mode", $"{Mode}");
        Add("conns", $"{Connections}");
        Add("size", $"{Size}");
        if (Mode == "open")
        {
            Add("rate", $"{Rate:0.##}");
        }
        else
        {
            Add("depth", $"{Depth}");
        }
        Add("loops", $"{Loops}");
        Add("secs", $"{Seconds:F2}");
        Add("msgs", $"{Messages}");
        Add("msgs_per_s", $"{MessagesPerSecond:F0}");
        Add("mb_per_s", $"{MegabytesPerSecond:F2}");
        Add("p50_us", $"{P50Us:F1}");
        Add("p90_us", $"{P90Us:F1}");
        Add("p99_us", $"{P99Us:F1}");
        Add("p999_us", $"{P999Us:F1}");
        Add("max_us", $"{MaxUs:F1}");
        if (Mode == "open")
        {
            Add("late_sends", $"{LateSends}");
            Add("max_lag_us", $"{MaxLagUs:F1}");
        }
        if (Churn > 0)
        {
            Add("churn", $"{Churn}");
            Add("replaced", $"{Replacements}");
            Add("reset_closes", $"{ResetCloses}");
        }
        Add("errors", $"{Errors}");
        Add("mismatches", $"{Mismatches}");
        return line.ToString();
    }

    /// <summary>The result as one JSON object with snake_case keys (the summary line's, plus the error breakdown).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("scenario", Scenario);
            json.WriteString("mode", Mode);
            json.WriteString("target", Target);
            json.WriteNumber("connections", Connections);
            json.WriteNumber("connected", Connected);
            json.WriteNumber("size", Size);
            json.WriteNumber("depth", Depth);
            json.WriteNumber("rate", Rate);
            json.WriteNumber("loops", Loops);
            json.WriteNumber("secs", Math.Round(Seconds, 3));
            json.WriteNumber("msgs", Messages);
            json.WriteNumber("msgs_per_s", Math.Round(MessagesPerSecond, 1));
            json.WriteNumber("mb_per_s", Math.Round(MegabytesPerSecond, 3));
            json.WriteNumber("p50_us", Math.Round(P50Us, 1));
            json.WriteNumber("p90_us", Math.Round(P90Us, 1));
            json.WriteNumber("p99_us", Math.Round(P99Us, 1));
            json.WriteNumber("p999_us", Math.Round(P999Us, 1));
            json.WriteNumber("max_us", Math.Round(MaxUs, 1));
            json.WriteNumber("mean_us", Math.Round(MeanUs, 1));
            json.WriteNumber("scheduled_sends", ScheduledSends);
            json.WriteNumber("late_sends", LateSends);
            json.WriteNumber("max_lag_us", Math.Round(MaxLagUs, 1));
            json.WriteNumber("errors", Errors);
            json.WriteNumber("connect_errors", ConnectErrors);
            json.WriteNumber("resets", Resets);
            json.WriteNumber("peer_closes", PeerCloses);
            json.WriteNumber("timeouts", Timeouts);
            json.WriteNumber("mismatches", Mismatches);
            json.WriteNumber("churn", Churn);
            json.WriteNumber("replaced", Replacements);
            json.WriteNumber("reset_closes", ResetCloses);
            if (FirstError is not null)
            {
                json.WriteString("first_error", FirstError);
            }
            if (ConnectionErrors.Count > 0)
            {
                json.WriteStartArray("error_connections");
                foreach (ConnectionError error in ConnectionErrors)
                {
                    json.WriteStartObject();
                    json.WriteString("local", error.Local);
                    json.WriteString("kind", error.KindName);
                    json.WriteNumber("at_s", Math.Round(error.AtSeconds, 3));
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>A once-a-second look at a run in progress.</summary>
/// <param name="Elapsed">Time since the load started (warm-up included).</param>
/// <param name="Measuring">False during warm-up.</param>
/// <param name="Completed">Answers so far, warm-up included.</param>
/// <param name="PerSecond">Answers per second over the last interval.</param>
public readonly record struct LoadProgress(TimeSpan Elapsed, bool Measuring, int LiveConnections, long Completed, double PerSecond, long Errors, long Mismatches);

/// <summary>The latency (microseconds) at one percentile of the measured window.</summary>
public readonly record struct LatencyPoint(double Percentile, double Us);

/// <summary>How a connection failed after it had connected.</summary>
public enum ConnectionErrorKind
{
    /// <summary>The server reset the connection (or the socket failed).</summary>
    Reset,

    /// <summary>The server closed the connection while LoadGen still used it.</summary>
    PeerClose,

    /// <summary>No answer came within the timeout; LoadGen dropped the connection.</summary>
    Timeout,
}

/// <summary>One failed connection: its local address, how it failed, and when (seconds since the load started).</summary>
public sealed record ConnectionError(string Local, ConnectionErrorKind Kind, double AtSeconds)
{
    /// <summary>The kind as the JSON and the report spell it: reset, peer_close, timeout.</summary>
    public string KindName => Kind switch
    {
        ConnectionErrorKind.Reset => "reset",
        ConnectionErrorKind.PeerClose => "peer_close",
        _ => "timeout",
    };
}
