using System.Globalization;
using System.Text;

namespace SoakMonitor;

/// <summary>
/// Judges a run. Growth is measured between the medians of the first and last quarters of the load after warm-up:
/// medians, because the descriptor flood comes in bursts and a burst should neither hide nor fake a trend; quarters
/// of the same load, so both sides carry the same mix. Descriptors must also come back to the idle baseline once
/// the load has stopped: anything left open then is a leak however slowly it grew.
/// </summary>
internal sealed class Verdict
{
    // Tolerances: growth beyond the larger of the relative and the absolute figure fails.
    internal const double RssTolerance = 0.10;
    internal const double RssToleranceMb = 16;
    internal const double GcTolerance = 0.20;
    internal const double GcToleranceMb = 8;
    internal const double FdTolerance = 0.10;
    internal const double FdToleranceCount = 50;
    internal const int FdSlackAfterCooldown = 5;

    private Verdict(bool passed, string summary, string report)
    {
        Passed = passed;
        Summary = summary;
        Report = report;
    }

    public bool Passed { get; }

    /// <summary>One line: what failed, or the key figures of a pass.</summary>
    public string Summary { get; }

    /// <summary>A markdown table of the figures behind the verdict.</summary>
    public string Report { get; }

    public static Verdict Judge(IReadOnlyList<Watched> servers, IReadOnlyList<Sample> samples, Schedule schedule)
    {
        var failures = new List<string>();
        var notes = new List<string>();
        var table = new StringBuilder();
        table.AppendLine("| server | figure | idle baseline | load, first quarter after warm-up (median) | load, last quarter (median) | peak | end of cooldown | trend during load | verdict |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        Sample[] load = [.. samples.Where(s => s.Phase == "load")];
        Sample[] idle = [.. samples.Where(s => s.Phase == "baseline")];
        Sample? last = samples.Count > 0 ? samples[^1] : null;
        bool complete = last is not null && last.T >= schedule.End - 0.5;
        if (!complete)
        {
            failures.Add($"the run stopped early, at {last?.T ?? 0:F0} s of {schedule.End:F0} s");
        }
        for (int i = 0; i < servers.Count; i++)
        {
            string name = servers[i].Name;
            if (samples.Any(s => !s.Values[i].Alive))
            {
                double at = samples.First(s => !s.Values[i].Alive).T;
                failures.Add($"{name} died at {at:F0} s");
                table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | process | | | | | | | **died at {at:F0} s** |");
                continue;
            }
            if (load.Length < 4)
            {
                failures.Add($"{name}: too few samples after warm-up ({load.Length}) to see a trend");
                continue;
            }
            int quarter = Math.Max(1, load.Length / 4);
            Sample[] first = load[..quarter];
            Sample[] lastQuarter = load[^quarter..];

            void Check(string figure, string unit, Func<ServerValues, double> pick, double relative, double absolute, bool judged)
            {
                double[] all = [.. load.Select(s => pick(s.Values[i]))];
                if (all.Any(v => v < 0))
                {
                    if (judged)
                    {
                        failures.Add($"{name}: no {figure} figures (is the startup hook loaded?)");
                    }
                    table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {figure} | | | | | | | no data |");
                    return;
                }
                double begin = Median(first.Select(s => pick(s.Values[i])));
                double end = Median(lastQuarter.Select(s => pick(s.Values[i])));
                double idleValue = idle.Length > 0 ? Median(idle.Select(s => pick(s.Values[i]))) : double.NaN;
                double peak = samples.Max(s => pick(s.Values[i]));
                double after = last is null ? double.NaN : pick(last.Values[i]);
                double slope = Slope(load.Select(s => (s.T / 60.0, pick(s.Values[i]))));
                double tolerance = Math.Max(begin * relative, absolute);
                bool ok = !judged || end - begin <= tolerance;
                string verdict = !judged ? "reported" : ok ? $"ok (+{end - begin:0.#} <= {tolerance:0.#})" : $"**grew {end - begin:0.#} > {tolerance:0.#}**";
                if (!ok)
                {
                    failures.Add($"{name} {figure} grew from {begin:0.#} to {end:0.#} {unit} during the load (tolerance {tolerance:0.#})");
                }
                table.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {figure} ({unit}) | {idleValue:0.#} | {begin:0.#} | {end:0.#} | {peak:0.#} | {after:0.#} | {slope:+0.##;-0.##;0} /min | {verdict} |");
            }

            Check("RSS", "MB", v => v.RssMb, RssTolerance, RssToleranceMb, judged: true);
            Check("GC heap", "MB", v => v.GcHeapMb, GcTolerance, GcToleranceMb, judged: true);
            Check("descriptors", "count", v => v.Fds, FdTolerance, FdToleranceCount, judged: true);
            Check("threads", "count", v => v.Threads, 0, 0, judged: false);

            if (idle.Length > 0 && last is not null && last.Phase == "cooldown")
            {
                // Assembly images are left out: one loaded late holds two descriptors for good, by design.
                double idleFds = Median(idle.Select(s => (double)s.Values[i].OtherFds));
                int endFds = last.Values[i].OtherFds;
                int endImages = last.Values[i].ImageFds;
                double idleImages = Median(idle.Select(s => (double)s.Values[i].ImageFds));
                string images = endImages == idleImages ? "" : $" (assembly images {idleImages:0} -> {endImages})";
                if (endFds > idleFds + FdSlackAfterCooldown)
                {
                    failures.Add($"{name} holds {endFds} descriptors (not counting assembly images) after the cooldown, " +
                        $"{endFds - idleFds:0} more than idle before the load ({idleFds:0})");
                }
                else
                {
                    notes.Add($"{name} descriptors {idleFds:0} idle -> {endFds} after cooldown{images}");
                }
            }
        }
        bool passed = failures.Count == 0;
        string summary = passed ? string.Join("; ", notes) : string.Join("; ", failures);
        return new Verdict(passed, summary, table.ToString());
    }

    internal static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Least-squares slope of y over x.</summary>
    private static double Slope(IEnumerable<(double X, double Y)> points)
    {
        (double X, double Y)[] p = [.. points];
        if (p.Length < 2)
        {
            return 0;
        }
        double mx = p.Average(q => q.X);
        double my = p.Average(q => q.Y);
        double num = p.Sum(q => (q.X - mx) * (q.Y - my));
        double den = p.Sum(q => (q.X - mx) * (q.X - mx));
        return den == 0 ? 0 : num / den;
    }
}
