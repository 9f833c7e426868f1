using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Kevents.Tests;

/// <summary>Several EchoServer processes on one port, as the README's "Scaling out" section describes.</summary>
public sealed partial class ReusePortProcessTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    [GeneratedRegex(@"EchoServer: (\d+) connections served")]
    private static partial Regex ServedLine();

    [Fact]
    public async Task TwoProcessesWithReusePortShareOnePortAndBothServe()
    {
        RuntimeWarmUp.ChildProcesses();
        using var first = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), 0, "--port", "0", "--reuse-port");
        int port = first.WaitForPort();
        using var second = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), 0, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--reuse-port");
        Assert.Equal(port, second.WaitForPort());

        // The kernel hashes each connection's ports to one of the two listeners: with 40 connections, all of them on
        // one process has a chance of 2 in 2^40.
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        for (int i = 0; i < 40; i++)
        {
            using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(endPoint).WaitAsync(Limit);
            await client.SendAsync(new byte[] { (byte)i }.AsMemory()).AsTask().WaitAsync(Limit);
            var echoed = new byte[1];
            Assert.Equal(1, await client.ReceiveAsync(echoed.AsMemory()).AsTask().WaitAsync(Limit));
            Assert.Equal((byte)i, echoed[0]);
        }

        first.StopAndAssertClean();
        second.StopAndAssertClean();
        int a = int.Parse(ServedLine().Match(first.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        int b = int.Parse(ServedLine().Match(second.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(40, a + b);
        Assert.True(a > 0 && b > 0, $"one process served every connection ({a}/{b})");
    }

    [Fact]
    public void WithoutReusePortASecondProcessOnTheSamePortFailsSayingTheAddressIsInUse()
    {
        RuntimeWarmUp.ChildProcesses();
        using var first = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), 0, "--port", "0", "--reuse-port");
        int port = first.WaitForPort();
        using var second = new SampleProcess("EchoServer.dll", SampleProcess.EchoListening(), 0, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(second.Process.WaitForExit(Limit), "the second server neither failed nor gave up");
        second.Process.WaitForExit();
        Assert.NotEqual(0, second.Process.ExitCode);
        Assert.Contains("in use", second.Output + second.Errors, StringComparison.OrdinalIgnoreCase);
        first.StopAndAssertClean();
    }
}
