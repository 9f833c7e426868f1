using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Kevents.Native;
using Kevents.Tests;
using LoadGen;

namespace Kevents.Samples.Tests;

/// <summary>The EchoServer sample as users run it: a child process on port 0, loaded, then stopped with SIGTERM.</summary>
public partial class EchoServerProcessTests : FdGateTest
{
    static EchoServerProcessTests()
    {
        // The runtime opens a pipe of its own (for SIGCHLD) the first time it starts a child, and keeps it for
        // the life of the process. Start one child before any fd baseline is taken so it is not seen as a leak.
        using Process warmUp = Process.Start("true");
        warmUp.WaitForExit();
    }

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    [Fact]
    public async Task EchoServerProcessEchoesServesLoadGenAndExitsCleanlyOnSigterm()
    {
        using var server = new EchoServerProcess("--port", "0");
        int port = server.WaitForPort();

        // A plain socket round trip first: the sample must echo exactly what it got.
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            byte[] hello = Encoding.ASCII.GetBytes("hello, kevents");
            await client.SendAsync(hello);
            byte[] back = new byte[hello.Length];
            int got = 0;
            while (got < back.Length)
            {
                int n = await client.ReceiveAsync(back.AsMemory(got));
                Assert.True(n > 0, "The server closed before echoing.");
                got += n;
            }
            Assert.Equal(hello, back);
        }

        // Then LoadGen against it, briefly.
        LoadResult result = await LoadRunner.RunAsync(new LoadOptions
        {
            Port = port,
            Connections = 8,
            Depth = 2,
            Duration = TimeSpan.FromSeconds(0.5),
            Warmup = TimeSpan.FromSeconds(0.1),
        });
        Assert.True(result.IsClean, result.ToSummaryLine());

        Assert.Equal(0, ProcessSignals.Send(server.Process.Id, ProcessSignals.SIGTERM));
        Assert.True(server.Process.WaitForExit(TimeSpan.FromSeconds(10)), "EchoServer did not exit after SIGTERM.");
        server.Process.WaitForExit();
        Assert.Equal(0, server.Process.ExitCode);
        // 1 socket client + 8 LoadGen connections.
        Assert.Contains("EchoServer: 9 connections served", server.Output);
    }

    [Fact]
    public void EchoServerRejectsUnknownFlagsWithExitCodeTwo()
    {
        using var server = new EchoServerProcess("--no-such-flag");
        Assert.True(server.Process.WaitForExit(TimeSpan.FromSeconds(10)));
        server.Process.WaitForExit();
        Assert.Equal(2, server.Process.ExitCode);
        Assert.Contains("Usage: EchoServer", server.Errors);
    }

    /// <summary>`dotnet EchoServer.dll ARGS`, from the copy built beside the tests, with its output collected.</summary>
    private sealed class EchoServerProcess : IDisposable
    {
        private readonly StringBuilder _output = new();
        private readonly StringBuilder _errors = new();
        private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public EchoServerProcess(params string[] args)
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "EchoServer.dll"));
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
                Match match = ListeningLine().Match(e.Data);
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
            Assert.True(_port.Task.Wait(TimeSpan.FromSeconds(20)), $"EchoServer never said where it listens. Output:\n{Output}\n{Errors}");
            return _port.Task.Result;
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
    }
}
