using System.Net;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Kevents.Net;
using Kevents.Tests;
using LoadGen;

namespace Kevents.Samples.Tests;

/// <summary>
/// <c>LoadGen --report</c>: one HTML file with the settings, the charts embedded as SVG, the percentile table, the
/// errors and (with <c>--server-pid</c>) the server's CPU and memory; and the per-connection error list that lets a
/// balancer's log say which backend a failed connection was on.
/// </summary>
public class LoadReportTests : GatedTest
{
    private static readonly XNamespace s_svg = "http://www.w3.org/2000/svg";

    [Fact]
    public async Task ReportHoldsSettingsChartsPercentilesAndTheServersCpuAndMemory()
    {
        using var server = new InProcessEchoServer();
        using var dir = new TempDir();
        string report = Path.Combine(dir.Path, "run.html");
        // The echo server runs in this process, so this process's /proc entry is the server's.
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync(
            ["--port", server.EndPoint.Port.ToString(), "-c", "5", "--depth", "2", "--duration", "1.6", "--warmup", "0.2",
                "--quiet", "--report", report, "--server-pid", Environment.ProcessId.ToString()],
            stdout, stderr, stderrIsTerminal: false);

        Assert.True(exitCode == 0, stderr.ToString());
        XElement html = Parse(report);
        Assert.Equal("html", html.Name.LocalName);
        Assert.Contains("against 127.0.0.1:" + server.EndPoint.Port, Single(html, "title").Value);

        // The settings, as given and as resolved.
        XElement settings = Section(html, "settings");
        Assert.Contains("-c 5 --depth 2", settings.Value);
        Assert.Equal("5 (5 connected)", Cell(html, "settings-table", "connections"));
        Assert.Equal("closed loop, depth 2", Cell(html, "settings-table", "mode"));
        Assert.Equal("127.0.0.1:" + server.EndPoint.Port, Cell(html, "settings-table", "target"));

        // Every chart is an SVG drawn into the page with a line in it, and nothing is fetched from elsewhere.
        foreach (string chart in new[] { "chart-throughput", "chart-latency", "chart-server-cpu", "chart-server-rss" })
        {
            XElement figure = ById(html, chart);
            XElement svg = Assert.Single(figure.Elements(s_svg + "svg"));
            Assert.NotNull(svg.Attribute("viewBox"));
            Assert.True(svg.Descendants().Count(e => e.Name.LocalName is "path" or "polyline" or "line") > 5, chart);
        }
        string text = System.IO.File.ReadAllText(report);
        Assert.DoesNotContain("http://", text.Replace("http://www.w3.org/", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("https://", text, StringComparison.Ordinal);

        // The percentile table has the curve's points, rising, and ends at the maximum.
        string[][] percentiles = Rows(html, "percentile-table");
        Assert.Equal(LoadResult.CurvePercentiles.Count, percentiles.Length);
        Assert.Equal(["50%", "99%", "99.9%"], percentiles.Select(r => r[0]).Where(p => p is "50%" or "99%" or "99.9%"));
        Assert.Equal("max", percentiles[^1][0]);
        double[] latencies = [.. percentiles.Select(r => double.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture))];
        Assert.True(latencies[5] > 0, string.Join(", ", latencies));
        Assert.Equal(latencies.Order(), latencies);

        // Errors by kind, all zero here.
        Assert.Equal("0", Cell(html, "errors-table", "peer_closes"));
        Assert.Equal("0", Cell(html, "errors-table", "mismatches"));

        // Throughput sampled about once a second over the 1.8 s of load.
        string[][] throughput = Rows(html, "throughput-table");
        Assert.InRange(throughput.Length, 1, 4);
        Assert.Contains(throughput, r => r[1] == "measured" && double.Parse(r[3], System.Globalization.CultureInfo.InvariantCulture) > 0);

        // The server: this process, whose memory is far above zero and which spent CPU echoing.
        Assert.Contains(Environment.ProcessId.ToString(), Single(Section(html, "server"), "h2").Value);
        string[][] server_ = Rows(html, "server-samples-table");
        Assert.True(server_.Length >= 2, $"{server_.Length} server samples");
        Assert.All(server_, r => Assert.True(double.Parse(r[2], System.Globalization.CultureInfo.InvariantCulture) > 1, $"RSS {r[2]} MB"));
        Assert.Contains(server_.Skip(1), r => double.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture) > 0);
        await WaitUntil(() => server.ConnectionCount == 0);
    }

    [Fact]
    public async Task WithoutServerPidTheReportHasNoServerSection()
    {
        using var server = new InProcessEchoServer();
        using var dir = new TempDir();
        string report = Path.Combine(dir.Path, "run.html");
        int exitCode = await LoadGenCli.RunAsync(
            ["--port", server.EndPoint.Port.ToString(), "-c", "2", "--duration", "0.3", "--warmup", "0", "--quiet", "--report", report],
            new StringWriter(), new StringWriter(), stderrIsTerminal: false);

        Assert.Equal(0, exitCode);
        XElement html = Parse(report);
        Assert.DoesNotContain(html.Descendants(), e => (string?)e.Attribute("id") == "server");
        Assert.NotNull(ById(html, "chart-latency"));
        Assert.False(System.IO.File.Exists(report + ".tmp"));
        await WaitUntil(() => server.ConnectionCount == 0);
    }

    [Theory]
    [InlineData("missing-dir/run.html", "directory")]
    [InlineData("", "is a directory")]
    public async Task AReportPathThatCannotBeWrittenIsRefusedBeforeTheRun(string relative, string message)
    {
        using var dir = new TempDir();
        string path = relative.Length == 0 ? dir.Path : Path.Combine(dir.Path, relative);
        var stderr = new StringWriter();
        // Port 1: nothing listens there, so a run that started anyway would show as connect errors, not exit 2.
        int exitCode = await LoadGenCli.RunAsync(["--port", "1", "--report", path], new StringWriter(), stderr, stderrIsTerminal: false);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"LoadGen: --report {path}", stderr.ToString());
        Assert.Contains(message, stderr.ToString());
    }

    [Theory]
    [InlineData("--server-pid 2147483647: no such process", "--report", "r.html", "--server-pid", "2147483647")]
    [InlineData("--server-pid 1 needs --report", "--server-pid", "1")]
    public async Task AServerPidThatCannotBeFollowedIsRefused(string message, params string[] args)
    {
        var stderr = new StringWriter();
        int exitCode = await LoadGenCli.RunAsync([.. args, "--port", "1"], new StringWriter(), stderr, stderrIsTerminal: false);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"LoadGen: {message}", stderr.ToString());
    }

    [Fact]
    public async Task EachFailedConnectionIsListedWithItsLocalAddressInJsonAndReport()
    {
        // A server that closes every connection as soon as a request arrives: each of the 3 fails once.
        using var loop = new EventLoop();
        SocketServer server = loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), new CloseOnData());
        Task running = loop.RunAsync();
        using var dir = new TempDir();
        string report = Path.Combine(dir.Path, "failed.html");
        try
        {
            var stdout = new StringWriter();
            int exitCode = await LoadGenCli.RunAsync(
                ["--port", ((IPEndPoint)server.LocalEndPoint).Port.ToString(), "-c", "3", "--duration", "0.3", "--warmup", "0",
                    "--json", "--quiet", "--report", report],
                stdout, new StringWriter(), stderrIsTerminal: false);

            Assert.Equal(1, exitCode);
            using JsonDocument json = JsonDocument.Parse(stdout.ToString());
            JsonElement[] failed = [.. json.RootElement.GetProperty("error_connections").EnumerateArray()];
            Assert.Equal(3, failed.Length);
            Assert.Equal(3, json.RootElement.GetProperty("errors").GetInt64());
            string[] locals = [.. failed.Select(f => f.GetProperty("local").GetString()!)];
            // Three different client ports on loopback: what a balancer logs as the client's address.
            Assert.All(locals, l => Assert.StartsWith("127.0.0.1:", l));
            Assert.Equal(3, locals.Distinct().Count());
            Assert.All(failed, f => Assert.True(f.GetProperty("kind").GetString() is "peer_close" or "reset", f.ToString()));

            XElement html = Parse(report);
            Assert.Equal(3, int.Parse(Cell(html, "errors-table", "peer_closes")) + int.Parse(Cell(html, "errors-table", "resets")));
            Assert.Equal(locals.Order(), Rows(html, "failed-connections-table").Select(r => r[1]).Order());
            Assert.Contains("failed", (string?)Single(html, "p").Attribute("class"));
        }
        finally
        {
            loop.DisposeWithServer(running, server);
        }
    }

    /// <summary>
    /// Reads the report as XML: stricter than an HTML parser (an unclosed or misnested element fails), and every
    /// browser reads the same markup as HTML.
    /// </summary>
    private static XElement Parse(string path)
    {
        using XmlReader reader = XmlReader.Create(path, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        return XDocument.Load(reader).Root!;
    }

    private static XElement Single(XElement html, string name) => html.Descendants().First(e => e.Name.LocalName == name);

    private static XElement ById(XElement html, string id) => Assert.Single(html.Descendants(), e => (string?)e.Attribute("id") == id);

    private static XElement Section(XElement html, string id)
    {
        XElement section = ById(html, id);
        Assert.Equal("section", section.Name.LocalName);
        return section;
    }

    private static string[][] Rows(XElement html, string tableId) =>
        [.. ById(html, tableId).Descendants().Where(e => e.Name.LocalName == "tbody").Elements()
            .Select(tr => tr.Elements().Select(td => td.Value).ToArray())];

    private static string Cell(XElement html, string tableId, string key) => Rows(html, tableId).Single(r => r[0] == key)[1];

    private static async Task WaitUntil(Func<bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + TestUtil.DefaultTimeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true in time.");
            await Task.Delay(10);
        }
    }

    private sealed class CloseOnData : IStreamHandler
    {
        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Close();
    }
}
