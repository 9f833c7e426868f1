using System.Globalization;
using System.Text;

namespace SoakMonitor;

/// <summary>A server being watched: its name in the report, its process id and the file its startup hook writes GC figures to.</summary>
internal sealed record Watched(string Name, int Pid, string? GcFile)
{
    /// <summary>Parses NAME=PID or NAME=PID:GCFILE.</summary>
    public static bool TryParse(string text, out Watched? watched)
    {
        watched = null;
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            return false;
        }
        string rest = text[(eq + 1)..];
        int colon = rest.IndexOf(':', StringComparison.Ordinal);
        string pidText = colon < 0 ? rest : rest[..colon];
        if (!int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid <= 0)
        {
            return false;
        }
        watched = new Watched(text[..eq], pid, colon < 0 ? null : rest[(colon + 1)..]);
        return true;
    }
}

/// <summary>The phases of a run, in seconds from the monitor's start.</summary>
internal sealed record Schedule(double Baseline, double Load, double WarmupFraction, double Cooldown)
{
    public double LoadStart => Baseline;

    public double WarmupEnd => Baseline + Load * WarmupFraction;

    public double LoadEnd => Baseline + Load;

    public double End => Baseline + Load + Cooldown;

    public string PhaseAt(double t) =>
        t < LoadStart ? "baseline" : t < WarmupEnd ? "warmup" : t < LoadEnd ? "load" : "cooldown";
}

/// <summary>
/// One server's figures at one moment. Negative values mean "could not be read". <see cref="ImageFds"/> counts the
/// descriptors that hold assembly and library files open: the runtime keeps two per loaded assembly, so an
/// assembly loaded late (a code path first taken under load) adds two that are not a leak.
/// </summary>
internal readonly record struct ServerValues(bool Alive, double RssMb, int Fds, int ImageFds, int Threads, double GcHeapMb, long Gen2)
{
    /// <summary>Descriptors other than assembly and library images: sockets, pipes, epoll, files being served.</summary>
    public int OtherFds => Fds < 0 ? -1 : Fds - ImageFds;

    public static ServerValues Read(Watched server)
    {
        try
        {
            double rssMb = -1;
            int threads = -1;
            foreach (string line in File.ReadLines($"/proc/{server.Pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    // "VmRSS:     123456 kB"
                    rssMb = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024.0;
                }
                else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                {
                    threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
                }
            }
            int fds = 0;
            int images = 0;
            foreach (string fd in Directory.EnumerateFileSystemEntries($"/proc/{server.Pid}/fd"))
            {
                fds++;
                string? target = ReadLink(fd);
                if (target is not null && (target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".so", StringComparison.Ordinal)))
                {
                    images++;
                }
            }
            (double gcMb, long gen2) = ReadGc(server.GcFile);
            return new ServerValues(rssMb >= 0, rssMb, fds, images, threads, gcMb, gen2);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            // The process is gone (or became a zombie whose status has no VmRSS).
            return new ServerValues(false, -1, -1, -1, -1, -1, -1);
        }
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Closed between the listing and the readlink.
            return null;
        }
    }

    /// <summary>The last complete line of the hook's file: "unixms heapBytes committedBytes gen0 gen1 gen2".</summary>
    private static (double HeapMb, long Gen2) ReadGc(string? path)
    {
        if (path is null || !File.Exists(path))
        {
            return (-1, -1);
        }
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        long start = Math.Max(0, file.Length - 512);
        file.Seek(start, SeekOrigin.Begin);
        var buffer = new byte[file.Length - start];
        file.ReadExactly(buffer);
        string[] lines = Encoding.ASCII.GetString(buffer).Split('\n');
        // The text after the last newline may be a line still being written.
        for (int i = lines.Length - 2; i >= 0; i--)
        {
            string[] parts = lines[i].Split(' ');
            if (parts.Length == 6 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long heap)
                && long.TryParse(parts[5], CultureInfo.InvariantCulture, out long gen2))
            {
                return (heap / (1024.0 * 1024.0), gen2);
            }
        }
        return (-1, -1);
    }
}

/// <summary>Every server's figures at one moment of the run.</summary>
internal sealed record Sample(double T, string Phase, ServerValues[] Values)
{
    public static Sample Take(double t, string phase, IReadOnlyList<Watched> servers) =>
        new(t, phase, [.. servers.Select(ServerValues.Read)]);

    public static string CsvHeader(IEnumerable<Watched> servers) =>
        "t_s,phase," + string.Join(',', servers.Select(s => $"{s.Name}_rss_mb,{s.Name}_fds,{s.Name}_image_fds,{s.Name}_threads,{s.Name}_gc_heap_mb,{s.Name}_gen2"));

    public string ToCsv() => string.Create(CultureInfo.InvariantCulture,
        $"{T:F1},{Phase},{string.Join(',', Values.Select(v => string.Create(CultureInfo.InvariantCulture, $"{v.RssMb:F1},{v.Fds},{v.ImageFds},{v.Threads},{v.GcHeapMb:F2},{v.Gen2}")))}");
}
