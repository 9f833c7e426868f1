using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Kevents.Native;

namespace Kevents.Tests;

/// <summary>A sample started as users start it, as a child process, with its output captured.</summary>
internal sealed partial class SampleProcess : IDisposable
{
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _errors = new();
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Starts the sample <paramref name="dll"/> (beside the test assembly) with <paramref name="args"/>; with
    /// <paramref name="fdLimit"/> above zero under that RLIMIT_NOFILE (set by the shell, then exec).
    /// <paramref name="listening"/> finds the port in its "listening on" line.
    /// </summary>
    public SampleProcess(string dll, Regex listening, int fdLimit, params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var start = new ProcessStartInfo(fdLimit > 0 ? "/bin/sh" : dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (fdLimit > 0)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {fdLimit} && exec \"$0\" \"$@\"");
            start.ArgumentList.Add(dotnet);
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        Process = new Process { StartInfo = start };
        Process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (_output)
            {
                _output.AppendLine(e.Data);
            }
            Match match = listening.Match(e.Data);
            if (match.Success)
            {
                _port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        };
        Process.ErrorDataReceived += (_, e) =>
        {
            lock (_errors)
            {
                _errors.AppendLine(e.Data);
            }
        };
        Process.Start();
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    public int WaitForPort()
    {
        Assert.True(_port.Task.Wait(TimeSpan.FromSeconds(20)), $"The sample never said where it listens. Output:\n{Output}\n{Errors}");
        return _port.Task.Result;
    }

    /// <summary>Descriptors the child holds now (0 once it has exited).</summary>
    public int OpenDescriptors()
    {
        try
        {
            return Directory.GetFileSystemEntries($"/proc/{Process.Id}/fd").Length;
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }
    }

    public void StopAndAssertClean()
    {
        Assert.Equal(0, ProcessSignals.Send(Process.Id, Signals.SIGTERM));
        Assert.True(Process.WaitForExit(TimeSpan.FromSeconds(20)), "the sample did not exit after SIGTERM");
        Process.WaitForExit();
        Assert.True(Process.ExitCode == 0, $"exit code {Process.ExitCode}.\n{Output}\n{Errors}");
        Assert.DoesNotContain("terminate called", Errors);
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill();
            Process.WaitForExit();
        }
        Process.Dispose();
    }

    /// <summary>EchoServer's "listening on" line; its group 1 is the port.</summary>
    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    public static partial Regex EchoListening();

    /// <summary>FileServer's "serving ... on http://" line; its group 1 is the port.</summary>
    [GeneratedRegex(@"on http://127\.0\.0\.1:(\d+)/")]
    public static partial Regex FileServerListening();
}
