using System.Globalization;
using System.Text;

/// <summary>
/// Loaded into the soaked servers with <c>DOTNET_STARTUP_HOOKS=.../SoakMonitor.dll</c>: once a second it appends
/// the process's GC heap figures to the file named by <c>KEVENTS_SOAK_GC_FILE</c>, where the monitor (another
/// process, which cannot ask the runtime itself) picks up the last line. The servers' code is not changed for it.
/// </summary>
/// <remarks>
/// The heap figure is the size after the last collection. A server that allocates almost nothing (the echo server
/// allocates nothing per message) may go minutes without one, which would leave that figure stale and hide a slow
/// leak; so every <c>KEVENTS_SOAK_GC_COLLECT_SECONDS</c> (default 10, 0 for never) the hook forces a full blocking
/// collection, a few milliseconds on these heaps. The file is opened once, so the descriptor count the monitor
/// watches stays flat.
/// </remarks>
/// <remarks>The runtime looks for exactly this name: a type called StartupHook in no namespace.</remarks>
#pragma warning disable CA1050 // The runtime requires the startup hook type in the global namespace.
internal static class StartupHook
#pragma warning restore CA1050
{
    private static FileStream? s_file;
    private static Timer? s_timer;
    private static int s_collectEvery;
    private static int s_ticks;

    /// <summary>Called by the runtime before the application's Main.</summary>
    public static void Initialize()
    {
        string? path = Environment.GetEnvironmentVariable("KEVENTS_SOAK_GC_FILE");
        if (string.IsNullOrEmpty(path))
        {
            return;
        }
        s_collectEvery = int.TryParse(Environment.GetEnvironmentVariable("KEVENTS_SOAK_GC_COLLECT_SECONDS"), CultureInfo.InvariantCulture, out int seconds)
            ? Math.Max(0, seconds)
            : 10;
        s_file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
        s_timer = new Timer(static _ => Write(), null, TimeSpan.Zero, TimeSpan.FromSeconds(1));
    }

    private static void Write()
    {
        try
        {
            if (s_collectEvery > 0 && s_ticks++ % s_collectEvery == 0)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true);
            }
            GCMemoryInfo info = GC.GetGCMemoryInfo(GCKind.Any);
            // unix ms, heap size after the last GC (live objects plus fragmentation), committed bytes, collections per generation.
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {info.HeapSizeBytes} {info.TotalCommittedBytes} {GC.CollectionCount(0)} {GC.CollectionCount(1)} {GC.CollectionCount(2)}\n");
            s_file!.Write(Encoding.ASCII.GetBytes(line));
            s_file.Flush();
        }
        catch (IOException)
        {
            // A full disk must not take the soaked server down; the monitor will see the figures go stale.
        }
    }
}
