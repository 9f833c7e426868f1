namespace LoadGen;

/// <summary>The command line: parse flags, run, print. Separate from Program so tests can call it.</summary>
public static class LoadGenCli
{
    /// <summary>Runs LoadGen with <paramref name="args"/> and returns the process exit code (0 clean, 1 failures seen, 2 bad options).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal, CancellationToken cancellationToken = default)
    {
        if (!new LoadGenCommandLine().TryParse(args, stdout, stderr, out LoadOptions options, out bool json, out bool quiet,
            out string? reportPath, out int serverPid, out int exitCode))
        {
            return exitCode;
        }

        bool showProgress = !quiet && stderrIsTerminal;
        int lastWidth = 0;
        // The report's samples: the runner's once-a-second look at its counters, plus the server's /proc figures,
        // both taken on the runner's side so the loops carrying the load never wait for them.
        var samples = new List<LoadProgress>();
        ServerSampler? server = serverPid > 0 ? new ServerSampler(serverPid) : null;
        DateTimeOffset startedAt = DateTimeOffset.UtcNow;
        server?.Sample(0);
        void Progress(LoadProgress p)
        {
            if (reportPath is not null)
            {
                samples.Add(p);
                server?.Sample(p.Elapsed.TotalSeconds);
            }
            if (!showProgress)
            {
                return;
            }
            string line = FormattableString.Invariant(
                $"[{p.Elapsed.TotalSeconds,5:F0}s] {(p.Measuring ? "measuring" : "warm-up  ")} conns={p.LiveConnections} msgs={p.Completed} msgs_per_s={p.PerSecond:F0} errors={p.Errors} mismatches={p.Mismatches}");
            stderr.Write("\r" + line.PadRight(lastWidth));
            lastWidth = line.Length;
        }

        LoadResult result;
        try
        {
            result = await LoadRunner.RunAsync(options, showProgress || reportPath is not null ? Progress : null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ArgumentException or IOException or TimeoutException)
        {
            stderr.WriteLine($"LoadGen: {ex.Message}");
            return 1;
        }
        if (showProgress && lastWidth > 0)
        {
            // Wipe the progress line so the summary starts on a clean line.
            stderr.Write("\r" + new string(' ', lastWidth) + "\r");
        }

        stdout.WriteLine(json ? result.ToJson() : result.ToSummaryLine());
        if (reportPath is not null)
        {
            try
            {
                LoadReport.Write(reportPath, args, options, result, samples, server, startedAt);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"LoadGen: cannot write the report to {reportPath}: {ex.Message}");
                return 1;
            }
        }
        if (result.Errors > 0)
        {
            stderr.WriteLine($"LoadGen: {result.ConnectErrors} connect failures, {result.Resets} resets, {result.PeerCloses} closed by the server, " +
                $"{result.Timeouts} timeouts{(result.FirstError is null ? "" : $" (first: {result.FirstError})")}");
        }
        if (result.Mismatches > 0)
        {
            stderr.WriteLine($"LoadGen: {result.Mismatches} answers did not match what was sent");
        }
        if (result.Messages == 0)
        {
            stderr.WriteLine("LoadGen: no answers were received in the measured window");
        }
        return result.IsClean ? 0 : 1;
    }
}
