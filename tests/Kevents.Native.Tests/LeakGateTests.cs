using Kevents.Tests;
using Xunit.Sdk;

namespace Kevents.Native.Tests;

/// <summary>
/// The leak gate itself: what it calls a leak and what it excuses. Each test builds gates of its own, so the class
/// has none around it (a gate inside a gate would take over the outer one's log routing).
/// </summary>
public sealed class LeakGateTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromMilliseconds(200);

    [Fact]
    public void ADescriptorLeftOpenFailsTheGateAndIsNamed()
    {
        var gate = new LeakGate(Quick);
        var (a, b) = TestUtil.SocketPair();
        try
        {
            var error = Assert.ThrowsAny<XunitException>(gate.Dispose);
            Assert.Contains($"opened since the test began: {a.Fd} -> socket:", error.Message);
            Assert.Contains("closed since: none", error.Message);
        }
        finally
        {
            a.Dispose();
            b.Dispose();
        }
    }

    [Fact]
    public void APipeOpenedBeforeTheTestThatClosesDuringItIsExcused()
    {
        // What the runtime does when a child process starts on another thread just as a test begins.
        var (r, w) = TestUtil.Pipe();
        var gate = new LeakGate(Quick);
        r.Dispose();
        w.Dispose();
        gate.Dispose();
    }

    [Fact]
    public void ASocketOpenedBeforeTheTestThatClosesDuringItFailsTheGate()
    {
        // A double close in Kevents would close a descriptor somebody else still uses: never excused for sockets.
        var (a, b) = TestUtil.SocketPair();
        var gate = new LeakGate(Quick);
        int fd = a.Fd;
        a.Dispose();
        b.Dispose();
        var error = Assert.ThrowsAny<XunitException>(gate.Dispose);
        Assert.Contains($"closed since: {fd} -> socket:", error.Message);
    }

    [Fact]
    public void AClosedPipeDoesNotExcuseANewDescriptor()
    {
        var (r, w) = TestUtil.Pipe();
        var gate = new LeakGate(Quick);
        r.Dispose();
        w.Dispose();
        Assert.True(NativeSocket.Create(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, out FileDescriptor? leaked) >= 0);
        using (leaked)
        {
            var error = Assert.ThrowsAny<XunitException>(gate.Dispose);
            Assert.Contains($"opened since the test began: {leaked!.Fd} -> socket:", error.Message);
        }
    }
}
