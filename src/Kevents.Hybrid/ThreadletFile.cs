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
        Handle = descriptor;
        Path = path;
    }

    /// <summary>The owned descriptor; null for a default instance.</summary>
    internal FileDescriptor? Handle { get; }

    /// <summary>The path it was opened with, for messages.</summary>
    public string? Path { get; }

    /// <summary>The descriptor number, or -1 once closed (or for a default instance). The file keeps owning it: close it
    /// by disposing the file (or with <see cref="Threadlet.CloseAsync"/>), never directly.</summary>
    public int Descriptor => Handle?.Fd ?? -1;

    /// <summary>Closes the descriptor.</summary>
    public void Dispose() => Handle?.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"fd {Descriptor} ('{Path}')";

    internal FileDescriptor CheckOpen()
    {
        if (Handle is not { IsClosed: false } descriptor)
        {
            throw new ObjectDisposedException(nameof(ThreadletFile), $"The file '{Path}' is closed (or was never opened); open it again with OpenAsync.");
        }
        return descriptor;
    }
}
