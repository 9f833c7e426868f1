using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Kevents.Native;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// EchoServer and FileServer with <c>--loops</c> above 1, in each distribution mode, as child processes: every loop
/// serves connections, SIGTERM stops every loop, and the summary line reports connections per loop.
/// </summary>
public partial class LoopsProcessTests : GatedTest
{
    // 64 connections: reuseport hashes each 4-tuple to one of 2 listeners, so all 64 land on one loop with chance
    // 2 * 2^-64 (about 1e-19); the acceptor alternates exactly; reuseport-cpu gets half its clients from each CPU.
    private const int Connections = 64;

    static LoopsProcessTests() => RuntimeWarmUp.ChildProcesses();

    [GeneratedRegex(@"connections per loop: (\d+(?:/\d+)*)")]
    private static partial Regex PerLoop();

    [Theory]
    [InlineData("reuseport")]
    [InlineData("acceptor")]
    [InlineData("reuseport-cpu")]
    public async Task EchoServerServesOnEveryLoop(string distribution)
    {
        int loops = LoopsFor(distribution);
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), fdLimit: 0,
            "--port", "0", "--loops", loops.ToString(System.Globalization.CultureInfo.InvariantCulture), "--distribution", distribution);
        int port = server.WaitForPort();
        await ForEachClientAsync(port, distribution, loops, client => EchoClient.EchoOnceAsync(client, "hello"));
        server.StopAndAssertClean();
        Assert.Contains($"EchoServer: {Connections} connections served", server.Output);
        AssertEveryLoopServed(server.Output, loops);
    }

    [Theory]
    [InlineData("reuseport")]
    [InlineData("acceptor")]
    [InlineData("reuseport-cpu")]
    public async Task FileServerServesOnEveryLoop(string distribution)
    {
        int loops = LoopsFor(distribution);
        string root = Directory.CreateTempSubdirectory("kevents-loops-").FullName;
        try
        {
            await System.IO.File.WriteAllTextAsync(Path.Combine(root, "a.txt"), "hello");
            using var server = new SampleProcess("FileServer.dll", SampleProcess.FileServerListening(), fdLimit: 0,
                "--root", root, "--port", "0", "--loops", loops.ToString(System.Globalization.CultureInfo.InvariantCulture), "--distribution", distribution);
            int port = server.WaitForPort();
            await ForEachClientAsync(port, distribution, loops, async client =>
            {
                await client.SendAsync(Encoding.ASCII.GetBytes("GET /a.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
                var response = new StringBuilder();
                byte[] buffer = new byte[4096];
                int n;
                while ((n = await client.ReceiveAsync(buffer)) > 0)
                {
                    response.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                Assert.StartsWith("HTTP/1.1 200", response.ToString());
                Assert.EndsWith("hello", response.ToString());
            });
            server.StopAndAssertClean();
            Assert.Contains($"{Connections} connections", server.Output);
            AssertEveryLoopServed(server.Output, loops);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>2 loops, except reuseport-cpu, which needs one loop per CPU (2 on the reference machine).</summary>
    private static int LoopsFor(string distribution)
    {
        if (distribution != "reuseport-cpu")
        {
            return 2;
        }
        int[] cpus = CpuAffinity.AllowedCpus();
        Assert.True(cpus.SequenceEqual(Enumerable.Range(0, cpus.Length)), $"reuseport-cpu needs CPUs 0..N-1; this process may use {string.Join(",", cpus)}");
        return cpus.Length;
    }

    /// <summary>
    /// Opens the connections and runs <paramref name="exchange"/> on each. For reuseport-cpu each connect is made from a
    /// thread pinned to one CPU in turn, because the server picks the loop of the CPU that received the connection.
    /// </summary>
    private static async Task ForEachClientAsync(int port, string distribution, int loops, Func<Socket, Task> exchange)
    {
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < Connections; i++)
            {
                clients.Add(distribution == "reuseport-cpu" ? TestUtil.ConnectFromCpu(endPoint, i % loops) : await ConnectAsync(endPoint));
            }
            foreach (Socket client in clients)
            {
                await exchange(client).WaitAsync(TimeSpan.FromSeconds(20));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromSeconds(20));
        return socket;
    }

    private static void AssertEveryLoopServed(string output, int loops)
    {
        Match match = PerLoop().Match(output);
        Assert.True(match.Success, $"no per-loop counts in the summary:\n{output}");
        long[] counts = match.Groups[1].Value.Split('/').Select(long.Parse).ToArray();
        Assert.Equal(loops, counts.Length);
        Assert.All(counts, c => Assert.True(c > 0, $"a loop served nothing: {match.Value}"));
        Assert.Equal(Connections, counts.Sum());
    }
}
