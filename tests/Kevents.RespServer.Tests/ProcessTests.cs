using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Kevents.Tests;
using StackExchange.Redis;

namespace Kevents.RespServer.Tests;

/// <summary>The sample as users run it: `dotnet RespServer.dll --port 0` as a child process, used, then stopped with a signal.</summary>
public sealed partial class ProcessTests : GatedTest
{
    static ProcessTests() => RuntimeWarmUp.ChildProcesses();

    [GeneratedRegex(@"RESP server listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task TheSampleServesRedisClientsAndStopsCleanlyOnASignal(string signal)
    {
        var output = new StringBuilder();
        var port = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "RespServer.dll"));
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add("0");
        using var process = new Process { StartInfo = start };
        void Collect(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }
            lock (output)
            {
                output.AppendLine(e.Data);
            }
            Match match = ListeningLine().Match(e.Data);
            if (match.Success)
            {
                port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        process.OutputDataReceived += Collect;
        process.ErrorDataReceived += Collect;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Assert.True(port.Task.Wait(TimeSpan.FromSeconds(30)), $"the sample never said where it listens:\n{output}");
            int serverPort = port.Task.Result;

            using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, serverPort));
                await socket.SendAsync(Encoding.ASCII.GetBytes("PING\r\nSET k v\r\nGET k\r\nQUIT\r\n"), SocketFlags.None);
                var received = new MemoryStream();
                byte[] buffer = new byte[1024];
                int n;
                while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(20))) > 0)
                {
                    received.Write(buffer, 0, n);
                }
                Assert.Equal("+PONG\r\n+OK\r\n$1\r\nv\r\n+OK\r\n", Encoding.ASCII.GetString(received.ToArray()));
            }

            await using (ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{serverPort},connectTimeout=10000"))
            {
                IDatabase db = redis.GetDatabase();
                Assert.Equal("v", (string?)await db.StringGetAsync("k"));
                Assert.Equal(3, await db.StringIncrementAsync("n", 3));
            }

            using (Process kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(20)), $"the sample did not exit after SIG{signal}:\n{output}");
            process.WaitForExit();
            Assert.Equal(0, process.ExitCode);
            string text;
            lock (output)
            {
                text = output.ToString();
            }
            Assert.Contains($"SIG{signal} received; draining connections", text);
            Assert.Matches(@"RespServer: \d+ commands, \d+ connections served, 0 refused, 2 keys at exit", text);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }
        }
    }
}
