using System.Globalization;
using System.Runtime.InteropServices;
using SoakMonitor;

// Samples the soaked servers every few seconds, writes a CSV and a PNG, and judges the run. See bench/README.md.
const string Usage = """
    Usage: SoakMonitor --server NAME=PID[:GCFILE] [--server ...] --csv FILE --png FILE
                       --baseline SEC --load SEC --cooldown SEC [--warmup-fraction F] [--interval SEC]
                       [--title TEXT]
      Timeline from start: baseline (servers idle), load (the first F of it is warm-up, default 0.2),
      cooldown (load stopped). A sample every --interval seconds (default 2) of each server's VmRSS and
      thread count (/proc/PID/status), open descriptors (/proc/PID/fd) and GC heap (the last line of GCFILE,
      written by the StartupHook in this assembly).
      Fails (exit 1) if, after warm-up, the median of the load's last quarter exceeds that of its first quarter
      by more than the tolerance (RSS: 10% or 16 MB, GC heap: 20% or 8 MB, descriptors: 10% or 50, whichever is
      larger), if descriptors at the end of the cooldown exceed the baseline by more than 5, or if a server died.
    """;

var servers = new List<Watched>();
string? csvPath = null;
string? pngPath = null;
string title = "Kevents soak";
double baseline = 10, load = 60, cooldown = 20, warmupFraction = 0.2, interval = 2;
for (int i = 0; i < args.Length; i++)
{
    string flag = args[i];
    if (flag is "--help" or "-h")
    {
        Console.WriteLine(Usage);
        return 0;
    }
    if (i + 1 >= args.Length)
    {
        return Bad($"{flag} needs a value.");
    }
    string value = args[++i];
    bool ok = flag switch
    {
        "--server" => Watched.TryParse(value, out Watched? w) && Add(w!),
        "--csv" => Assign(out csvPath, value),
        "--png" => Assign(out pngPath, value),
        "--title" => Assign(out title, value),
        "--baseline" => TryDouble(value, 0, out baseline),
        "--load" => TryDouble(value, 1, out load),
        "--cooldown" => TryDouble(value, 0, out cooldown),
        "--warmup-fraction" => TryDouble(value, 0, out warmupFraction) && warmupFraction < 0.9,
        "--interval" => TryDouble(value, 0.1, out interval),
        _ => false,
    };
    if (!ok)
    {
        return Bad($"bad option '{flag} {value}'.");
    }
}
if (servers.Count == 0 || csvPath is null || pngPath is null)
{
    return Bad("--server, --csv and --png are required.");
}

var schedule = new Schedule(baseline, load, warmupFraction, cooldown);
using var stop = new CancellationTokenSource();
// The script's cleanup sends SIGTERM when it is interrupted: stop sampling, still write what was seen.
using PosixSignalRegistration onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
using PosixSignalRegistration onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });

var samples = new List<Sample>();
using (var csv = new StreamWriter(csvPath))
{
    csv.WriteLine(Sample.CsvHeader(servers));
    long startTicks = Environment.TickCount64;
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(interval));
    while (true)
    {
        double t = (Environment.TickCount64 - startTicks) / 1000.0;
        Sample sample = Sample.Take(t, schedule.PhaseAt(t), servers);
        samples.Add(sample);
        csv.WriteLine(sample.ToCsv());
        csv.Flush();
        if (t >= schedule.End || sample.Values.Any(v => !v.Alive))
        {
            break;
        }
        try
        {
            await timer.WaitForNextTickAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
            break;
        }
    }
}

Verdict verdict = Verdict.Judge(servers, samples, schedule);
Plotter.Draw(pngPath, title, servers, samples, schedule, verdict);
Console.WriteLine(verdict.Report);
Console.WriteLine(verdict.Passed ? "SOAK PASS: " + verdict.Summary : "SOAK FAIL: " + verdict.Summary);
return verdict.Passed ? 0 : 1;

bool Add(Watched w)
{
    servers.Add(w);
    return true;
}

static bool Assign(out string target, string value)
{
    target = value;
    return value.Length > 0;
}

static bool TryDouble(string text, double min, out double value) =>
    double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value) && value >= min;

static int Bad(string message)
{
    Console.Error.WriteLine($"SoakMonitor: {message}");
    Console.Error.WriteLine(Usage);
    return 2;
}
