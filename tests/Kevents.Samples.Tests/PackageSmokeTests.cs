using System.Diagnostics;
using System.Text;

namespace Kevents.Tests;

/// <summary>
/// The README's Install section, proved from this tree: eng/package-smoke.sh packs every src project into a
/// temporary folder feed, builds a fresh <c>dotnet new console</c> project that references the packages with the
/// README's examples and <c>-warnaserror</c>, and runs the examples that stop by themselves.
/// </summary>
public sealed class PackageSmokeTests : GatedTest
{
    static PackageSmokeTests() => RuntimeWarmUp.ChildProcesses();

    [Fact]
    public void ReadmeExamplesBuildFromThePackagesWithZeroWarningsAndRun()
    {
        var start = new ProcessStartInfo("bash", [Path.Combine(TestUtil.RepositoryRoot(), "eng", "package-smoke.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestUtil.RepositoryRoot(),
        };
        var output = new StringBuilder();
        using var smoke = new Process { StartInfo = start };
        smoke.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        smoke.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        smoke.Start();
        smoke.BeginOutputReadLine();
        smoke.BeginErrorReadLine();
        bool exited = smoke.WaitForExit(TimeSpan.FromMinutes(8));
        if (!exited)
        {
            smoke.Kill(entireProcessTree: true);
        }
        // Waiting without a timeout after exit drains the redirected streams to their end, so their pipes are closed
        // before the leak gate counts descriptors.
        smoke.WaitForExit();
        string text;
        lock (output)
        {
            text = output.ToString();
        }
        Assert.True(exited, $"the package smoke took more than 8 minutes:\n{text}");
        Assert.True(smoke.ExitCode == 0, $"the package smoke failed with exit code {smoke.ExitCode}:\n{text}");
        Assert.Contains("package smoke passed", text);
    }
}
