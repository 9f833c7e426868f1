namespace LoadGen;

/// <summary>The command line: parse flags, run, print. Separate from Program so tests can call it.</summary>
public static class LoadGenCli
{
    /// <summary>Runs LoadGen with <paramref name="args"/> and returns the process exit code (0 clean, 1 failures seen, 2 bad options).</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, bool stderrIsTerminal, CancellationToken cancellationToken = default)
    {
        if (!new LoadGenCommandLine().TryParse(args, stdout, stderr, out LoadOptions options, out bool json, out bool quiet, out int exitCode))
        {
            return exitCode;
        }

        bool showProgress = !quiet && stderrIsTerminal;
        int lastWidth = 0;
        void Progress(LoadProgress p)
        {
            string line = FormattableString.Invariant(
                $"[{p.Elapsed.TotalSeconds,5:F0}s] {(p.Measuring ? "measuring" : "warm-up  ")} conns={p.LiveConnections} msgs={p.Completed} msgs_per_s={p.PerSecond:F0} errors={p.Errors} mismatches={p.Mismatches}");
            stderr.Write("\r" + line.PadRight(lastWidth));
            lastWidth = line.Length;
        }

        LoadResult result;
        try
        {
            result = await LoadRunner.RunAsync(options, showProgress ? Progress : null, cancellationToken).ConfigureAwait(false);
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
