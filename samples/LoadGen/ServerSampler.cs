using System.Globalization;

namespace LoadGen;

/// <summary>One look at the server process: its CPU over the last interval and its resident memory.</summary>
/// <param name="Seconds">Time since the load started.</param>
/// <param name="CpuPercent">User plus system CPU over the interval before this sample, in % of one core.</param>
/// <param name="RssMb">VmRSS in 10^6 bytes.</param>
internal readonly record struct ServerSample(double Seconds, double CpuPercent, double RssMb);

/// <summary>
/// Follows a server's CPU time and memory through /proc while LoadGen loads it. Read from the runner's once-a-second
/// progress callback, never from a loop thread, so it costs the load nothing.
/// </summary>
internal sealed class ServerSampler
{
    // /proc reports CPU times in USER_HZ ticks, which Linux fixes at 100 per second for every program it runs.
    private const double TicksPerSecond = 100;

    private readonly string _statPath;
    private readonly string _statusPath;
    private long _lastTicks = -1;
    private double _lastSeconds;

    public ServerSampler(int pid)
    {
        Pid = pid;
        _statPath = $"/proc/{pid}/stat";
        _statusPath = $"/proc/{pid}/status";
    }

    public int Pid { get; }

    /// <summary>The process name from /proc/PID/stat, for the report's heading.</summary>
    public string? Name { get; private set; }

    public List<ServerSample> Samples { get; } = [];

    /// <summary>Total user plus system CPU seconds over the samples taken.</summary>
    public double CpuSeconds { get; private set; }

    /// <summary>Seconds since the load started when the process was first found gone (null while it lives).</summary>
    public double? GoneAt { get; private set; }

    /// <summary>Whether /proc has a process <paramref name="pid"/>.</summary>
    public static bool Exists(int pid) => File.Exists($"/proc/{pid}/stat");

    /// <summary>
    /// Records one sample at <paramref name="seconds"/> since the load started. The first call only sets the CPU
    /// baseline (and the memory at the start).
    /// </summary>
    public void Sample(double seconds)
    {
        if (GoneAt is not null)
        {
            return;
        }
        long ticks;
        double rssMb;
        try
        {
            ticks = ReadCpuTicks();
            rssMb = ReadRssMb();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            // The server exited (or its /proc entry cannot be read): the curve ends here.
            GoneAt = seconds;
            return;
        }
        double cpuPercent = 0;
        if (_lastTicks >= 0 && seconds > _lastSeconds)
        {
            double cpu = (ticks - _lastTicks) / TicksPerSecond;
            CpuSeconds += cpu;
            cpuPercent = cpu / (seconds - _lastSeconds) * 100;
        }
        if (_lastTicks >= 0 || Samples.Count == 0)
        {
            Samples.Add(new ServerSample(seconds, cpuPercent, rssMb));
        }
        _lastTicks = ticks;
        _lastSeconds = seconds;
    }

    private long ReadCpuTicks()
    {
        string stat = File.ReadAllText(_statPath);
        // The name, in parentheses, may hold spaces and parentheses itself: the fields after it start past the last ')'.
        int open = stat.IndexOf('(', StringComparison.Ordinal);
        int close = stat.LastIndexOf(')');
        if (open < 0 || close < open)
        {
            throw new FormatException($"{_statPath} has no (name).");
        }
        Name ??= stat[(open + 1)..close];
        string[] fields = stat[(close + 2)..].Split(' ');
        // After the name: state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12 here.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private double ReadRssMb()
    {
        foreach (string line in File.ReadLines(_statusPath))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                string kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kb, CultureInfo.InvariantCulture) * 1024 / 1e6;
            }
        }
        // A zombie has no memory left to report.
        throw new IOException($"{_statusPath} has no VmRSS line.");
    }
}
