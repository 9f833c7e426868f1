using System.Diagnostics;
using Kevents.Native;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// The samples' shared command line, as users meet it: each sample run as a child process with bad input, with
/// --help, and stopped by a signal.
/// </summary>
public class SampleCommandLineTests : GatedTest
{
    static SampleCommandLineTests() => RuntimeWarmUp.ChildProcesses();

    [Theory]
    [InlineData("EchoServer", "Unrecognized command or argument '--no-such-flag'", "--no-such-flag")]
    [InlineData("EchoServer", "--port must be a whole number from 0 to 65535 (got 'abc')", "--port", "abc")]
    [InlineData("EchoServer", "--port must be a whole number from 0 to 65535 (got '70000')", "--port", "70000")]
    [InlineData("EchoServer", "--idle-timeout must be a number from 0 to 604800 (got '-1')", "--idle-timeout", "-1")]
    [InlineData("EchoServer", "--api must be one of stream, pipe, kevents (got 'udp')", "--api", "udp")]
    [InlineData("EchoServer", "--bind must be an IP address", "--bind", "localhost")]
    [InlineData("EchoServer", "--backend must be one of default, epoll, io_uring (got 'kqueue')", "--backend", "kqueue")]
    [InlineData("EchoServer", "Required argument missing for option: '--max-connections'", "--max-connections")]
    [InlineData("EchoServer", "--api kevents serves TCP only", "--api", "kevents", "--unix", "/tmp/kevents-cli-test.sock")]
    [InlineData("FileServer", "Unrecognized command or argument '--bogus'", "--bogus")]
    [InlineData("FileServer", "--port must be a whole number from 0 to 65535 (got '-1')", "--port", "-1")]
    [InlineData("FileServer", "--header-timeout must be a number above 0", "--header-timeout", "0")]
    [InlineData("FileServer", "--max-connections must be a whole number of at least 1 (got 'many')", "--max-connections", "many")]
    [InlineData("FileServer", "Unrecognized command or argument 'yes'", "--verbose", "yes")]
    [InlineData("FileServer", "--cold-files must be one of threadlet, inline (got 'async')", "--cold-files", "async")]
    [InlineData("RespServer", "--max-query-buffer must be a whole number of at least 1024 (got '10')", "--max-query-buffer", "10")]
    [InlineData("RespServer", "--max-clients must be a whole number of at least 1 (got '0')", "--max-clients", "0")]
    public async Task BadInputExitsWithTwoNamingTheFlagAndWhatIsAllowed(string sample, string message, params string[] args)
    {
        Run run = await RunSampleAsync(sample, args);

        Assert.True(run.ExitCode == 2, $"exit code {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.StartsWith($"{sample}: {message}", run.Stderr);
        // Followed by the help, so the allowed flags are right there; nothing goes to stdout.
        Assert.Contains($"Usage:\n  {sample} [options]", run.Stderr);
        Assert.Contains("--port <N>", run.Stderr);
        Assert.Equal("", run.Stdout);
    }

    [Theory]
    [InlineData("EchoServer", "--port <N>", "[default: 7000]", "--bind <ADDRESS>", "[default: 127.0.0.1]", "--unix <PATH>", "--max-connections <N>",
        "[default: 10000]", "--idle-timeout <SEC>", "[default: 75]", "--api <stream|pipe|kevents>", "[default: stream]", "--spin-us <N>", "[default: 50]")]
    [InlineData("FileServer", "--root <DIR>", "--port <N>", "[default: 8080]", "--bind <ADDRESS>", "--header-timeout <SEC>", "[default: 30]",
        "--idle-timeout <SEC>", "[default: 75]", "--max-connections <N>", "--verbose", "--cold-files <threadlet|inline>", "[default: threadlet]")]
    [InlineData("RespServer", "--port <N>", "[default: 6379]", "--bind <ADDRESS>", "--max-clients <N>", "[default: 10000]",
        "--max-query-buffer <BYTES>", "[default: 1073741824]", "--timeout <SEC>", "[default: 0]", "--spin-us <N>")]
    public async Task HelpListsEveryFlagWithItsDefaultOnStdoutAndExitsWithZero(string sample, params string[] expected)
    {
        Run run = await RunSampleAsync(sample, "--help");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains($"Usage:\n  {sample} [options]", run.Stdout);
        foreach (string text in expected)
        {
            Assert.Contains(text, run.Stdout);
        }
        Assert.Equal("", run.Stderr);
    }

    [Fact]
    public async Task LoadGenOnSigtermEndsTheRunEarlyAndStillPrintsTheResult()
    {
        using var server = new InProcessEchoServer();
        Run run = await RunSampleAsync("LoadGen",
            ["--port", server.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--connections", "2",
                "--duration", "600", "--warmup", "0", "--quiet"],
            async process =>
            {
                // Closed loop at depth 1: once the server has echoed 100 messages, LoadGen has its answers to most of them.
                DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (server.BytesEchoed < 100 * 64)
                {
                    Assert.True(DateTime.UtcNow < deadline && !process.HasExited, "LoadGen never got going.");
                    await Task.Delay(20);
                }
                Assert.Equal(0, ProcessSignals.Send(process.Id, Signals.SIGTERM));
            });

        Assert.True(run.ExitCode == 0, $"exit code {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        Assert.StartsWith("scenario=echo mode=closed conns=2", run.Stdout);
        Assert.Contains("errors=0 mismatches=0", run.Stdout);
    }

    private sealed record Run(int ExitCode, string Stdout, string Stderr);

    private static Task<Run> RunSampleAsync(string sample, params string[] args) => RunSampleAsync(sample, args, whileRunning: null);

    /// <summary>`dotnet SAMPLE.dll ARGS` from the copy built beside the tests, to its exit (within 60 s).</summary>
    private static async Task<Run> RunSampleAsync(string sample, string[] args, Func<Process, Task>? whileRunning)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, sample + ".dll"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        try
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (whileRunning is not null)
            {
                await whileRunning(process);
            }
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            var run = new Run(process.ExitCode, (await stdout).ReplaceLineEndings("\n"), (await stderr).ReplaceLineEndings("\n"));
            // Process.Dispose does not close the redirected pipes at once (they went seconds later): close them now,
            // so the fd gate does not wait for them.
            process.StandardOutput.Dispose();
            process.StandardError.Dispose();
            return run;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }
    }
}
