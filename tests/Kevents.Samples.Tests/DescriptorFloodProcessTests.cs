using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Native;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// Repeated floods to the descriptor limit, at a small scale: the samples, as child processes under a low
/// RLIMIT_NOFILE, are flooded to the limit again and again (unpaced and paced rounds) beside a well-behaved client.
/// They must shed the flood before the process runs out of descriptors (never reach EMFILE, where the runtime cannot start threads and may abort), keep
/// serving the good client, return to their baseline after each round and exit cleanly. bench/fd-flood.sh does the
/// same at a 20,000 descriptor limit.
/// </summary>
public class DescriptorFloodProcessTests : GatedTest
{
    private const int FdLimit = 300;
    private const int FloodSize = 400;

    static DescriptorFloodProcessTests() => RuntimeWarmUp.ChildProcesses();

    [Fact]
    public async Task EchoServerSurvivesRepeatedFloodsToTheDescriptorLimitWhileServingAGoodClient()
    {
        // A connection limit far above the descriptor limit: only the descriptor reserve can stop the flood.
        using var server = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), FdLimit, "--port", "0", "--max-connections", "100000");
        var endPoint = new IPEndPoint(IPAddress.Loopback, server.WaitForPort());
        using Socket good = await ConnectAsync(endPoint);
        await EchoClient.EchoOnceAsync(good, "hello");
        int baseline = server.OpenDescriptors();

        await FloodRoundsAsync(server, endPoint, baseline, () => EchoClient.EchoOnceAsync(good, "still served"));

        server.StopAndAssertClean();
        Assert.Contains("descriptors are free in this process", server.Output);
    }

    [Fact]
    public async Task FileServerSurvivesRepeatedFloodsToTheDescriptorLimitWhileServingAGoodClient()
    {
        string root = Directory.CreateTempSubdirectory("kevents-flood-").FullName;
        try
        {
            byte[] body = Encoding.ASCII.GetBytes(new string('f', 40_000));
            System.IO.File.WriteAllBytes(Path.Combine(root, "file.txt"), body);
            using var server = new SampleProcess("FileServer.dll", SampleProcess.FileServerListening(), FdLimit, "--root", root, "--port", "0", "--max-connections", "100000");
            var endPoint = new IPEndPoint(IPAddress.Loopback, server.WaitForPort());
            using Socket good = await ConnectAsync(endPoint);
            await GetAsync(good, body);
            int baseline = server.OpenDescriptors();

            // Each round the good client's request needs a descriptor for the file: it must still get one.
            await FloodRoundsAsync(server, endPoint, baseline, () => GetAsync(good, body));

            server.StopAndAssertClean();
            Assert.Contains("SIGTERM received; finishing responses in flight", server.Output);
            Assert.Matches(@"FileServer: \d+ requests \(\d+ ok", server.Output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task FloodRoundsAsync(SampleProcess server, IPEndPoint endPoint, int baseline, Func<Task> goodClient)
    {
        for (int round = 0; round < 4; round++)
        {
            bool paced = round % 2 == 1;
            var flood = new List<Socket>();
            try
            {
                for (int i = 0; i < FloodSize; i++)
                {
                    flood.Add(await ConnectAsync(endPoint));
                    if (paced && i % 25 == 24)
                    {
                        await Task.Delay(10);
                    }
                }
                // Let the server take in (or shed) everything that connected, then check on it mid-flood.
                await WaitForStableDescriptorsAsync(server);
                Assert.False(server.Process.HasExited, $"round {round}: the server died.\n{server.Output}\n{server.Errors}");
                int held = server.OpenDescriptors();
                Assert.True(held < FdLimit, $"round {round}: the server holds {held} of {FdLimit} descriptors");
                await goodClient();
            }
            finally
            {
                flood.ForEach(s => s.Dispose());
            }
            DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (server.OpenDescriptors() > baseline + 4 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            Assert.True(server.OpenDescriptors() <= baseline + 4, $"round {round}: {server.OpenDescriptors()} descriptors open after the flood, {baseline} before");
            await goodClient();
        }
        Assert.DoesNotContain("Out of file descriptors", server.Output);
    }

    private static async Task WaitForStableDescriptorsAsync(SampleProcess server)
    {
        int last = -1;
        for (int i = 0; i < 100; i++)
        {
            await Task.Delay(50);
            int now = server.OpenDescriptors();
            if (now == last)
            {
                return;
            }
            last = now;
        }
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromSeconds(20));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task GetAsync(Socket client, byte[] body)
    {
        await client.SendAsync("GET /file.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        // The head, then exactly Content-Length bytes of body.
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            byte[] b = await ReceiveAsync(client, 1);
            head.Append((char)b[0]);
        }
        Assert.StartsWith("HTTP/1.1 200 ", head.ToString());
        Assert.Equal(body, await ReceiveAsync(client, body.Length));
    }

    private static async Task<byte[]> ReceiveAsync(Socket client, int count)
    {
        byte[] buffer = new byte[count];
        int got = 0;
        while (got < count)
        {
            int n = await client.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(n > 0, "the server closed the good client's connection");
            got += n;
        }
        return buffer;
    }

    /// <summary>`dotnet SAMPLE.dll ARGS` from the copy built beside the tests, under RLIMIT_NOFILE <c>fdLimit</c>.</summary>
}
