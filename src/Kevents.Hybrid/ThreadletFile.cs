using Kevents.Native;

namespace Kevents.Hybrid;

/// <summary>
/// A file opened by a threadlet. Disposing it closes the descriptor (once, even if copies of this struct are
/// disposed again). Use <see cref="Threadlet.CloseAsync"/> instead where closing might block (network file systems).
/// </summary>
public readonly struct ThreadletFile : IDisposable
{
    internal ThreadletFile(FileDescriptor descriptor, string path)
    {
        Descriptor = descriptor;
        Path = path;
    }

    /// <summary>The owned descriptor; null for a default instance.</summary>
    public FileDescriptor? Descriptor { get; }

    /// <summary>The path it was opened with, for messages.</summary>
    public string? Path { get; }

    /// <summary>The descriptor number, or -1 once closed.</summary>
    public int Fd => Descriptor?.Fd ?? -1;

    /// <summary>Closes the descriptor.</summary>
    public void Dispose() => Descriptor?.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"fd {Fd} ('{Path}')";

    internal FileDescriptor CheckOpen()
    {
        if (Descriptor is not { IsClosed: false } descriptor)
        {
            throw new ObjectDisposedException(nameof(ThreadletFile), $"The file '{Path}' is closed (or was never opened); open it again with OpenAsync.");
        }
        return descriptor;
    }
}
