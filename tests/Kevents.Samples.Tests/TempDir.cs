namespace Kevents.Samples.Tests;

/// <summary>A fresh temporary directory, deleted with everything in it on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("loadgen-report-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
