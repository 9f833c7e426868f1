using System.Net.Sockets;

namespace Kevents.Tests;

/// <summary>A unique socket path under /tmp; disposing deletes whatever was bound there.</summary>
public sealed class TempUnixPath : IDisposable
{
    private static int s_counter;

    internal TempUnixPath()
    {
        // sun_path holds 108 bytes, so the name stays short: process id, a counter, and a little randomness
        // so that two runs of the suite on one machine never meet.
        Path = $"/tmp/kev-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}-{Random.Shared.Next(0x10000):x4}.sock";
    }

    /// <summary>The absolute path.</summary>
    public string Path { get; }

    /// <summary>The path as a socket endpoint.</summary>
    public UnixDomainSocketEndPoint EndPoint => new(Path);

    /// <inheritdoc />
    public void Dispose() => File.Delete(Path);

    /// <inheritdoc />
    public override string ToString() => Path;
}
