using System.Globalization;
using System.Net;
using System.Text;
using ScottPlot;

namespace LoadGen;

/// <summary>
/// Writes one run as a single HTML file that needs nothing else to be read: the styles are inline and every chart
/// is an SVG drawn by ScottPlot and embedded in the page. The markup is also well-formed XML (every element closed,
/// no named entities beyond XML's own), so scripts and tests can read it with any parser.
/// </summary>
internal static class LoadReport
{
    private const int ChartWidth = 900;
    private const int ChartHeight = 320;

    // The nines the latency curve's axis is marked with: 0 is the median side, 5 is 99.999%.
    private static readonly string[] s_ninesLabels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];

    /// <summary>Writes the report to <paramref name="path"/> (replacing it).</summary>
    public static void Write(string path, IReadOnlyList<string> args, LoadOptions options, LoadResult result,
        IReadOnlyList<LoadProgress> samples, ServerSampler? server, DateTimeOffset startedAt)
    {
        string html = Render(args, options, result, samples, server, startedAt);
        // Written beside the target and moved over it, so a reader never sees half a report.
        string temp = path + ".tmp";
        File.WriteAllText(temp, html, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The report's HTML.</summary>
    public static string Render(IReadOnlyList<string> args, LoadOptions options, LoadResult result,
        IReadOnlyList<LoadProgress> samples, ServerSampler? server, DateTimeOffset startedAt)
    {
        var html = new StringBuilder();
        string title = Inv($"LoadGen: {result.Scenario} {result.Mode} loop against {result.Target}");
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
            .Append("<title>").Append(E(title)).Append("</title>\n")
            .Append("<style>").Append(Style).Append("</style>\n</head>\n<body>\n")
            .Append("<h1>").Append(E(title)).Append("</h1>\n")
            .Append("<p class=\"verdict ").Append(result.IsClean ? "clean" : "failed").Append("\">")
            .Append(result.IsClean ? "Clean run: answers flowed, every byte matched, no errors." : E(Verdict(result)))
            .Append("</p>\n");
        html.Append("<p>Started ").Append(E(startedAt.ToString("yyyy-MM-dd HH:mm:ss 'UTC'zzz", CultureInfo.InvariantCulture)))
            .Append(" on ").Append(E(Environment.MachineName)).Append(", ").Append(Environment.ProcessorCount)
            .Append(" CPUs.</p>\n");

        Settings(html, args, options, result);
        Summary(html, result);
        Throughput(html, options, samples);
        Latency(html, result);
        Errors(html, result);
        if (server is not null)
        {
            Server(html, options, result, server);
        }
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    private static void Settings(StringBuilder html, IReadOnlyList<string> args, LoadOptions options, LoadResult result)
    {
        html.Append("<section id=\"settings\">\n<h2>Settings</h2>\n<p><code>LoadGen ")
            .Append(E(string.Join(' ', args.Select(Quote)))).Append("</code></p>\n");
        Table(html, "settings-table", ["setting", "value"],
        [
            ["target", result.Target],
            ["scenario", (options.Scenario?.Detail ?? "") is { Length: > 0 } detail ? $"{result.Scenario} ({detail})" : result.Scenario],
            ["mode", result.Mode == "open" ? Inv($"open loop, {options.Rate:0.##} msgs/s{(options.Spin ? ", spin" : "")}") : Inv($"closed loop, depth {options.Depth}")],
            ["connections", Inv($"{result.Connections} ({result.Connected} connected)")],
            ["message size", Inv($"{result.Size} bytes")],
            ["loops", Inv($"{result.Loops}")],
            ["warm-up", Inv($"{options.Warmup.TotalSeconds:0.###} s")],
            ["duration", Inv($"{options.Duration.TotalSeconds:0.###} s (measured {result.Seconds:0.###} s)")],
            ["timeout", Inv($"{options.Timeout.TotalSeconds:0.###} s")],
            ["churn", options.Churn == 0 ? "off" : Inv($"{options.Churn} answers per connection, reset fraction {options.ResetFraction:0.###}")],
        ]);
        html.Append("</section>\n");
    }

    private static void Summary(StringBuilder html, LoadResult result)
    {
        html.Append("<section id=\"summary\">\n<h2>Result</h2>\n");
        Table(html, "summary-table", ["figure", "value"],
        [
            ["answers in the measured window", Inv($"{result.Messages}")],
            ["answers per second", Inv($"{result.MessagesPerSecond:F0}")],
            ["MB per second (10^6 bytes of answers)", Inv($"{result.MegabytesPerSecond:F2}")],
            ["latency p50 / p99 / max", Inv($"{result.P50Us:F1} / {result.P99Us:F1} / {result.MaxUs:F1} \u00b5s")],
            ["errors / mismatches", Inv($"{result.Errors} / {result.Mismatches}")],
        ]);
        html.Append("<p>Summary line, as LoadGen printed it:</p>\n<pre>").Append(E(result.ToSummaryLine())).Append("</pre>\n</section>\n");
    }

    private static void Throughput(StringBuilder html, LoadOptions options, IReadOnlyList<LoadProgress> samples)
    {
        html.Append("<section id=\"throughput\">\n<h2>Throughput over time</h2>\n")
            .Append("<p>Answers per second, sampled once a second (warm-up shaded). Errors are cumulative: connections reset, ")
            .Append("closed by the server or timed out so far.</p>\n");
        var plot = new Plot();
        if (samples.Count > 0)
        {
            double[] t = [.. samples.Select(s => s.Elapsed.TotalSeconds)];
            ShadeWarmup(plot, options.Warmup.TotalSeconds);
            var line = plot.Add.ScatterLine(t, samples.Select(s => s.PerSecond).ToArray(), Colors.Blue);
            line.LineWidth = 2;
            line.LegendText = "answers/s";
            if (samples[^1].Errors > 0)
            {
                var errors = plot.Add.ScatterLine(t, samples.Select(s => (double)s.Errors).ToArray(), Colors.Red);
                errors.Axes.YAxis = plot.Axes.Right;
                errors.LegendText = "errors (cumulative)";
                plot.Axes.Right.Label.Text = "errors";
            }
            plot.Axes.SetLimitsY(0, Math.Max(1, samples.Max(s => s.PerSecond)) * 1.1, plot.Axes.Left);
            plot.Axes.SetLimitsX(0, t[^1]);
            plot.ShowLegend(Edge.Bottom);
        }
        plot.XLabel("seconds since the load started");
        plot.YLabel("answers per second");
        Chart(html, plot, "chart-throughput", "Answers per second over the run");
        html.Append("<details><summary>Samples</summary>\n");
        Table(html, "throughput-table", ["second", "phase", "connections", "answers/s", "answers so far", "errors", "mismatches"],
            [.. samples.Select(s => new[]
            {
                Inv($"{s.Elapsed.TotalSeconds:F1}"), s.Measuring ? "measured" : "warm-up", Inv($"{s.LiveConnections}"),
                Inv($"{s.PerSecond:F0}"), Inv($"{s.Completed}"), Inv($"{s.Errors}"), Inv($"{s.Mismatches}"),
            })]);
        html.Append("</details>\n</section>\n");
    }

    private static void Latency(StringBuilder html, LoadResult result)
    {
        html.Append("<section id=\"latency\">\n<h2>Latency percentiles</h2>\n")
            .Append("<p>From LoadGen's HdrHistogram (3 significant digits) over the measured window: the latency under which each ")
            .Append("fraction of answers arrived. ")
            .Append(result.Mode == "open"
                ? "Open loop: each latency counts from the message's intended send time, so stalls are not hidden."
                : "Closed loop: each latency counts from the moment the message was written.")
            .Append("</p>\n");
        var plot = new Plot();
        LatencyPoint[] curve = [.. result.Percentiles.Where(p => p.Percentile < 100)];
        if (curve.Length > 0)
        {
            // x is the number of nines: 1 at 90%, 2 at 99%, 3 at 99.9%; the tail gets room as it does in HdrHistogram plots.
            double[] x = [.. curve.Select(p => Nines(p.Percentile))];
            var line = plot.Add.ScatterLine(x, curve.Select(p => p.Us).ToArray(), Colors.DarkGreen);
            line.LineWidth = 2;
            line.MarkerSize = 5;
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
                [.. Enumerable.Range(0, s_ninesLabels.Length).Select(i => (double)i)], s_ninesLabels);
            plot.Axes.SetLimitsX(0, Math.Max(x.Max(), 3));
            plot.Axes.SetLimitsY(0, curve.Max(p => p.Us) * 1.1);
        }
        plot.XLabel("percentile");
        plot.YLabel("latency (\u00b5s)");
        Chart(html, plot, "chart-latency", "Latency by percentile");
        Table(html, "percentile-table", ["percentile", "latency (\u00b5s)"],
            [.. result.Percentiles.Select(p => new[] { p.Percentile >= 100 ? "max" : Inv($"{p.Percentile:0.###}%"), Inv($"{p.Us:F1}") })]);
        if (result.Percentiles.Count == 0)
        {
            html.Append("<p>No answers were measured, so there is no latency to show.</p>\n");
        }
        html.Append("</section>\n");
    }

    private static void Errors(StringBuilder html, LoadResult result)
    {
        html.Append("<section id=\"errors\">\n<h2>Errors</h2>\n");
        Table(html, "errors-table", ["kind", "count", "meaning"],
        [
            ["connect_errors", Inv($"{result.ConnectErrors}"), "connects that failed (refused, timed out)"],
            ["resets", Inv($"{result.Resets}"), "connections the server reset (or whose socket failed)"],
            ["peer_closes", Inv($"{result.PeerCloses}"), "connections the server closed while in use"],
            ["timeouts", Inv($"{result.Timeouts}"), "connections dropped after no answer within the timeout"],
            ["mismatches", Inv($"{result.Mismatches}"), "answers that did not match what was sent"],
        ]);
        if (result.FirstError is not null)
        {
            html.Append("<p>First connect error: ").Append(E(result.FirstError)).Append("</p>\n");
        }
        if (result.ConnectionErrors.Count > 0)
        {
            const int shown = 200;
            html.Append("<details><summary>Failed connections (").Append(result.ConnectionErrors.Count)
                .Append(result.ConnectionErrors.Count > shown ? Inv($", first {shown} shown") : "")
                .Append("): local address, so a balancer's log can say which backend each was on</summary>\n");
            Table(html, "failed-connections-table", ["second", "local address", "kind"],
                [.. result.ConnectionErrors.Take(shown).Select(e => new[] { Inv($"{e.AtSeconds:F2}"), e.Local, e.KindName })]);
            html.Append("</details>\n");
        }
        html.Append("</section>\n");
    }

    private static void Server(StringBuilder html, LoadOptions options, LoadResult result, ServerSampler server)
    {
        html.Append("<section id=\"server\">\n<h2>Server process ").Append(server.Pid)
            .Append(server.Name is null ? "" : " (" + E(server.Name) + ")").Append("</h2>\n")
            .Append("<p>CPU (user + system, from /proc/").Append(server.Pid).Append("/stat) in % of one core per second, ")
            .Append("and resident memory (VmRSS from /proc/").Append(server.Pid).Append("/status), sampled once a second.")
            .Append(server.GoneAt is double gone ? Inv($" The process was gone at {gone:F1} s.") : "")
            .Append("</p>\n");
        IReadOnlyList<ServerSample> samples = server.Samples;
        double[] t = [.. samples.Select(s => s.Seconds)];

        var cpu = new Plot();
        ShadeWarmup(cpu, options.Warmup.TotalSeconds);
        if (samples.Count > 1)
        {
            // The first sample is the baseline; CPU is a rate over the interval before each later one.
            var line = cpu.Add.ScatterLine(t[1..], samples.Skip(1).Select(s => s.CpuPercent).ToArray(), Colors.OrangeRed);
            line.LineWidth = 2;
            cpu.Axes.SetLimitsY(0, Math.Max(100, samples.Max(s => s.CpuPercent) * 1.1));
            cpu.Axes.SetLimitsX(0, t[^1]);
        }
        cpu.XLabel("seconds since the load started");
        cpu.YLabel("CPU (% of one core)");
        Chart(html, cpu, "chart-server-cpu", "Server CPU over the run");

        var rss = new Plot();
        ShadeWarmup(rss, options.Warmup.TotalSeconds);
        if (samples.Count > 0)
        {
            var line = rss.Add.ScatterLine(t, samples.Select(s => s.RssMb).ToArray(), Colors.Purple);
            line.LineWidth = 2;
            rss.Axes.SetLimitsY(0, samples.Max(s => s.RssMb) * 1.1);
            rss.Axes.SetLimitsX(0, Math.Max(1, t[^1]));
        }
        rss.XLabel("seconds since the load started");
        rss.YLabel("RSS (MB)");
        Chart(html, rss, "chart-server-rss", "Server resident memory over the run");

        // CPU per answer over the measured window only, the measure that carries from this machine to a bigger one.
        double warmup = options.Warmup.TotalSeconds;
        double measuredCpu = 0;
        for (int i = 1; i < samples.Count; i++)
        {
            if (samples[i - 1].Seconds >= warmup - 0.01)
            {
                measuredCpu += samples[i].CpuPercent / 100 * (samples[i].Seconds - samples[i - 1].Seconds);
            }
        }
        Table(html, "server-table", ["figure", "value"],
        [
            ["CPU seconds over the run", Inv($"{server.CpuSeconds:F2}")],
            ["CPU seconds in the measured window", Inv($"{measuredCpu:F2}")],
            ["CPU per answer in the measured window", result.Messages > 0 ? Inv($"{measuredCpu * 1e6 / result.Messages:F2} \u00b5s") : "-"],
            ["RSS at start / peak / end", samples.Count > 0 ? Inv($"{samples[0].RssMb:F1} / {samples.Max(s => s.RssMb):F1} / {samples[^1].RssMb:F1} MB") : "-"],
        ]);
        html.Append("<details><summary>Samples</summary>\n");
        Table(html, "server-samples-table", ["second", "CPU %", "RSS (MB)"],
            [.. samples.Select(s => new[] { Inv($"{s.Seconds:F1}"), Inv($"{s.CpuPercent:F1}"), Inv($"{s.RssMb:F1}") })]);
        html.Append("</details>\n</section>\n");
    }

    private static void ShadeWarmup(Plot plot, double warmupSeconds)
    {
        if (warmupSeconds > 0)
        {
            var span = plot.Add.HorizontalSpan(0, warmupSeconds, Colors.Orange.WithAlpha(0.15));
            span.LineColor = Colors.Transparent;
        }
    }

    /// <summary>Embeds <paramref name="plot"/> as inline SVG, with its XML declaration dropped (HTML has its own).</summary>
    private static void Chart(StringBuilder html, Plot plot, string id, string caption)
    {
        string svg = plot.GetSvgXml(ChartWidth, ChartHeight);
        int start = Math.Max(0, svg.IndexOf("<svg", StringComparison.Ordinal));
        // A viewBox lets the browser scale the chart down to a narrow window instead of cropping it.
        string sized = Inv($"width=\"{ChartWidth}\" height=\"{ChartHeight}\"");
        svg = svg[start..];
        int tagEnd = svg.IndexOf('>', StringComparison.Ordinal);
        if (tagEnd > 0 && svg[..tagEnd].Contains(sized, StringComparison.Ordinal))
        {
            svg = svg[..tagEnd].Replace(sized, sized + Inv($" viewBox=\"0 0 {ChartWidth} {ChartHeight}\""), StringComparison.Ordinal) + svg[tagEnd..];
        }
        html.Append("<figure id=\"").Append(id).Append("\">\n").Append(svg).Append('\n')
            .Append("<figcaption>").Append(E(caption)).Append("</figcaption>\n</figure>\n");
    }

    private static void Table(StringBuilder html, string id, string[] head, IReadOnlyList<string[]> rows)
    {
        html.Append("<table id=\"").Append(id).Append("\">\n<thead><tr>");
        foreach (string h in head)
        {
            html.Append("<th>").Append(E(h)).Append("</th>");
        }
        html.Append("</tr></thead>\n<tbody>\n");
        foreach (string[] row in rows)
        {
            html.Append("<tr>");
            foreach (string cell in row)
            {
                html.Append("<td>").Append(E(cell)).Append("</td>");
            }
            html.Append("</tr>\n");
        }
        html.Append("</tbody>\n</table>\n");
    }

    private static string Verdict(LoadResult result) =>
        result.Messages == 0 ? "Failed: no answers were received in the measured window."
        : Inv($"Failed: {result.Errors} errors and {result.Mismatches} mismatches (details under Errors).");

    /// <summary>How many nines <paramref name="percentile"/> has: 1 at 90, 2 at 99, 3 at 99.9.</summary>
    private static double Nines(double percentile) => -Math.Log10(1 - percentile / 100);

    private static string Quote(string arg) => arg.Length == 0 || arg.Any(c => char.IsWhiteSpace(c) || c is '"' or '\'') ? $"'{arg}'" : arg;

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private const string Style =
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}" +
        "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}" +
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left}" +
        "td:nth-child(n+2){font-variant-numeric:tabular-nums}th{background:#f3f3f3}" +
        "pre,code{background:#f6f6f6;padding:.2em .4em;white-space:pre-wrap;word-break:break-all}" +
        "figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{color:#666;font-size:.9em}" +
        ".verdict{font-weight:bold;padding:.4em .6em}.clean{background:#e6f4e6}.failed{background:#fbe3e3}";
}
