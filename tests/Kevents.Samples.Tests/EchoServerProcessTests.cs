using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Kevents.Native;
using Kevents.Tests;
using LoadGen;

namespace Kevents.Samples.Tests;

/// <summary>The EchoServer sample as users run it: a child process on port 0, loaded, then stopped with SIGTERM.</summary>
public partial class EchoServerProcessTests : GatedTest
{
    static EchoServerProcessTests() => RuntimeWarmUp.ChildProcesses();

    [Theory]
    [InlineData("stream", "epoll")]
    [InlineData("pipe", "epoll")]
    [InlineData("stream", "io_uring")]
    [InlineData("pipe", "io_uring")]
    public async Task EchoServerProcessEchoesServesLoadGenAndExitsCleanlyOnSigterm(string api, string backend)
    {
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), fdLimit: 0, "--port", "0", "--api", api, "--backend", backend);
        int port = server.WaitForPort();

        // A plain socket round trip first: the sample must echo exactly what it got.
        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            await EchoClient.EchoOnceAsync(client, "hello, kevents");
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

        Assert.Equal(0, ProcessSignals.Send(server.Process.Id, Signals.SIGTERM));
        Assert.True(server.Process.WaitForExit(TimeSpan.FromSeconds(10)), "EchoServer did not exit after SIGTERM.");
        server.Process.WaitForExit();
        Assert.Equal(0, server.Process.ExitCode);
        Assert.Contains("SIGTERM received; draining connections", server.Output);
        // 1 socket client + 8 LoadGen connections.
        Assert.Contains("EchoServer: 9 connections served", server.Output);
    }

    [Fact]
    public void EchoServerOnSigintDrainsAndExitsCleanly()
    {
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), fdLimit: 0, "--port", "0");
        server.WaitForPort();

        Assert.Equal(0, ProcessSignals.Send(server.Process.Id, Signals.SIGINT));
        Assert.True(server.Process.WaitForExit(TimeSpan.FromSeconds(10)), "EchoServer did not exit after SIGINT.");
        server.Process.WaitForExit();
        Assert.Equal(0, server.Process.ExitCode);
        Assert.Contains("SIGINT received; draining connections", server.Output);
        Assert.Contains("EchoServer: 0 connections served", server.Output);
    }

    /// <summary>`dotnet EchoServer.dll ARGS`, from the copy built beside the tests, with its output collected.</summary>
    [Fact]
    public async Task OutOfDescriptorsTheServerShedsPendingClientsWithoutSpinningAndRecovers()
    {
        // docs/reliability.md, in a child process with a low RLIMIT_NOFILE (the runtime itself keeps ~100 fds open).
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), fdLimit: 160, "--port", "0");
        int port = server.WaitForPort();
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        using var existing = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await existing.ConnectAsync(endPoint);
        await EchoClient.EchoOnceAsync(existing, "before");

        var crowd = new List<Socket>();
        try
        {
            await ConnectCrowdAsync(crowd, endPoint, 150);

            // Descriptors are exhausted and clients are still arriving in the backlog: the loop must not spin.
            long spent = await TicksInOneSecondAsync(server.Process.Id);
            Assert.True(spent <= 5, $"the server used {spent} clock ticks (of 100) in one second while out of descriptors");

            // Existing connections are still served.
            await EchoClient.EchoOnceAsync(existing, "during");

            // Every crowd client was either served or closed; none is left hanging.
            int served = 0, closed = 0;
            foreach (Socket client in crowd)
            {
                if (await TryEchoOrSeeCloseAsync(client))
                {
                    served++;
                }
                else
                {
                    closed++;
                }
            }
            Assert.True(closed > 0, "no client was shed, so descriptors never ran out");
            Assert.Equal(150, served + closed);
        }
        finally
        {
            crowd.ForEach(c => c.Dispose());
        }

        // Once descriptors are free again, accepting resumes within a few pauses (the bound leaves a busy machine
        // slack: what matters is that the server comes back by itself, not how fast the client notices).
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        bool recovered = false;
        while (!recovered && stopwatch.Elapsed < TimeSpan.FromSeconds(10))
        {
            using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await late.ConnectAsync(endPoint);
            recovered = await TryEchoOrSeeCloseAsync(late);
        }
        Assert.True(recovered && stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"accepting resumed after {stopwatch.Elapsed.TotalMilliseconds} ms");
        // Shed by the descriptor reserve before the limit, or (if something else took the reserve) at EMFILE.
        Assert.True(server.Output.Contains("descriptors are free in this process", StringComparison.Ordinal)
            || server.Output.Contains("Out of file descriptors", StringComparison.Ordinal), server.Output);

        server.StopAndAssertClean();
    }

    [Fact]
    public async Task RawKeventsServerOutOfDescriptorsPausesAcceptingInsteadOfSpinningAndRecovers()
    {
        // The raw-kevent API has no descriptor reserve: it meets EMFILE, and must not retry it on every turn.
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), fdLimit: 160, "--port", "0", "--api", "kevents");
        int port = server.WaitForPort();
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        using var existing = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await existing.ConnectAsync(endPoint);
        await EchoClient.EchoOnceAsync(existing, "before");

        var crowd = new List<Socket>();
        try
        {
            await ConnectCrowdAsync(crowd, endPoint, 150);

            long spent = await TicksInOneSecondAsync(server.Process.Id);
            Assert.True(spent <= 20, $"the server used {spent} clock ticks (of 100) in one second while out of descriptors");
            await EchoClient.EchoOnceAsync(existing, "during");
        }
        finally
        {
            crowd.ForEach(c => c.Dispose());
        }

        // Descriptors come back as the crowd's connections close; a new client is served within a few pauses.
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await late.ConnectAsync(endPoint);
        await EchoClient.EchoOnceAsync(late, "after");
        Assert.Contains("pausing accepting", server.Output);
        int warnings = Regex.Matches(server.Output, "accept failed").Count;
        Assert.True(warnings <= 10, $"{warnings} accept warnings: the log is not rate-limited");

        server.StopAndAssertClean();
    }

    /// <summary>True when the server echoed a byte; false when it closed or reset the connection (within 5 s).</summary>
    private static async Task<bool> TryEchoOrSeeCloseAsync(Socket client)
    {
        try
        {
            await client.SendAsync("x"u8.ToArray());
            byte[] one = new byte[1];
            int n = await client.ReceiveAsync(one.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            return n == 1;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Connects <paramref name="count"/> clients, each added to <paramref name="crowd"/> before it connects (so the
    /// caller's finally disposes every one, even after a failure), then gives the backlog 300 ms to settle.
    /// </summary>
    private static async Task ConnectCrowdAsync(List<Socket> crowd, IPEndPoint endPoint, int count)
    {
        for (int i = 0; i < count; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            crowd.Add(client);
            await client.ConnectAsync(endPoint);
        }
        await Task.Delay(300);
    }

    /// <summary>The CPU time (clock ticks, 1/100 s) process <paramref name="pid"/> spends in the next second.</summary>
    private static async Task<long> TicksInOneSecondAsync(int pid)
    {
        long before = CpuTicks(pid);
        await Task.Delay(1000);
        return CpuTicks(pid) - before;
    }

    /// <summary>User plus system CPU time of a process, in clock ticks (1/100 s).</summary>
    private static long CpuTicks(int pid)
    {
        string stat = System.IO.File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
    }
}
