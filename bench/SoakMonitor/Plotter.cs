using ScottPlot;

namespace SoakMonitor;

/// <summary>Draws the run: one panel per figure, one line per server, the phases shaded behind them.</summary>
internal static class Plotter
{
    private static readonly Color[] s_colors = [Colors.Blue, Colors.OrangeRed, Colors.Green, Colors.Purple];

    public static void Draw(string path, string title, IReadOnlyList<Watched> servers, IReadOnlyList<Sample> samples, Schedule schedule, Verdict verdict)
    {
        (string Label, Func<ServerValues, double> Pick)[] panels =
        [
            ("RSS (MB)", v => v.RssMb),
            ("open descriptors", v => v.Fds),
            ("GC heap, live after GC (MB)", v => v.GcHeapMb),
            ("threads", v => v.Threads),
        ];
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Length);
        double[] minutes = [.. samples.Select(s => s.T / 60.0)];
        for (int p = 0; p < panels.Length; p++)
        {
            Plot plot = multiplot.GetPlot(p);
            Shade(plot, schedule);
            for (int i = 0; i < servers.Count; i++)
            {
                int index = i;
                // Unreadable values (a dead process, a missing hook file) are left out rather than drawn at -1.
                var points = samples.Select((s, k) => (X: minutes[k], Y: panels[p].Pick(s.Values[index]))).Where(q => q.Y >= 0).ToArray();
                if (points.Length == 0)
                {
                    continue;
                }
                var line = plot.Add.ScatterLine(points.Select(q => q.X).ToArray(), points.Select(q => q.Y).ToArray(), s_colors[i % s_colors.Length]);
                line.LineWidth = 1.5f;
                line.LegendText = servers[i].Name;
            }
            plot.YLabel(panels[p].Label);
            plot.XLabel("minutes");
            plot.Axes.SetLimitsX(0, schedule.End / 60.0);
            // The same room for tick labels in every panel, so the time axes line up under each other.
            plot.Axes.Left.MinimumSize = 80;
            // Outside the data area, so no line hides behind it; every panel has the same entries, so the same width.
            plot.ShowLegend(Edge.Right);
        }
        multiplot.GetPlot(0).Title($"{title}: {(verdict.Passed ? "PASS" : "FAIL")}");
        multiplot.SavePng(path, 1000, 1300);
    }

    private static void Shade(Plot plot, Schedule schedule)
    {
        void Span(double from, double to, Color color, string label)
        {
            if (to <= from)
            {
                return;
            }
            var span = plot.Add.HorizontalSpan(from / 60.0, to / 60.0, color.WithAlpha(0.12));
            span.LineColor = Colors.Transparent;
            span.LegendText = label;
        }
        Span(0, schedule.LoadStart, Colors.Gray, "idle");
        Span(schedule.LoadStart, schedule.WarmupEnd, Colors.Orange, "warm-up");
        Span(schedule.LoadEnd, schedule.End, Colors.Gray, "cooldown");
    }
}
