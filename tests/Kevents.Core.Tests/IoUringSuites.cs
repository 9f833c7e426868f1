using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

// The loop's behaviour suites once more on the io_uring backend (where the kernel refuses io_uring they run on the
// epoll fallback, and the IoUringFact tests below say why they skip). Each class only changes the backend.

public sealed class ReadinessOnIoUringTests : ReadinessTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class ApiEdgeOnIoUringTests : ApiEdgeTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class CrossThreadOnIoUringTests : CrossThreadTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class TimerOnIoUringTests : TimerTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class RegistrationHandleOnIoUringTests : RegistrationHandleTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class HandlerFailureOnIoUringTests : HandlerFailureTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class AsyncOnIoUringTests : AsyncTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class LayerTimerOnIoUringTests : LayerTimerTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class SignalOnIoUringTests : SignalTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class RegistrationFaultOnIoUringTests : RegistrationFaultTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class PullUnderRunOnIoUringTests : PullUnderRunTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

public sealed class DescriptorOnIoUringTests : DescriptorTests
{
    protected override LoopBackend Backend => IoUringBackend.Backend;
}

/// <summary>Choosing the backend, falling back, and what only the io_uring poller does.</summary>
public sealed class BackendSelectionTests : LoopTest
{
    [IoUringFact]
    public void AskingForIoUringGetsIt()
    {
        EventLoop loop = NewLoop(new EventLoopOptions { Backend = LoopBackend.IoUring });
        Assert.Equal(LoopBackend.IoUring, loop.Backend);
    }

    [Fact]
    public void EpollIsTheDefault()
    {
        // The test process does not set KEVENTS_BACKEND (the io_uring suites ask for their backend in the options).
        Assert.Null(Environment.GetEnvironmentVariable(EventLoop.BackendEnvironmentVariable));
        using var loop = new EventLoop();
        Assert.Equal(LoopBackend.Epoll, loop.Backend);
    }

    [Theory]
    [InlineData(Errno.ENOSYS, "ENOSYS")]
    [InlineData(Errno.EPERM, "forbidden")]
    public void SetupTheKernelRefusesFallsBackToEpollWithOneWarningSayingWhy(int errno, string why)
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop;
        var plan = new FaultPlan().Fail(FaultSite.IoUringSetup, errno, 1);
        using (FaultInjection.Arm(plan))
        {
            loop = NewLoop(new EventLoopOptions { Backend = LoopBackend.IoUring, LoggerFactory = factory });
        }
        Assert.Equal(1, plan.Injected(FaultSite.IoUringSetup));
        Assert.Equal(LoopBackend.Epoll, loop.Backend);
        CapturingLoggerProvider.Entry warning = Assert.Single(logs.Entries);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("epoll instead of io_uring", warning.Message);
        Assert.Contains(why, warning.Message);

        // And the fallback is a working loop.
        var (r, w) = TestUtil.Pipe();
        Own(r);
        Own(w);
        bool delivered = false;
        loop.Register(Kevent.Read(r.Fd), (in Kevent _) => { delivered = true; loop.Stop(); });
        WriteByte(w);
        RunWithLimit(loop);
        Assert.True(delivered);
        loop.Unregister((ulong)r.Fd, KeventFilter.Read);
    }

    [Fact]
    public void TheEnvironmentVariablePicksTheBackendOfDefaultLoopsAndANameItDoesNotKnowIsAWarning()
    {
        Assert.True(EventLoop.TryParseBackend("IO_URING", out LoopBackend parsed));
        Assert.Equal(LoopBackend.IoUring, parsed);
        Assert.True(EventLoop.TryParseBackend("epoll", out parsed));
        Assert.Equal(LoopBackend.Epoll, parsed);
        Assert.False(EventLoop.TryParseBackend("kqueue", out _));

        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        try
        {
            Environment.SetEnvironmentVariable(EventLoop.BackendEnvironmentVariable, "io_uring");
            using (var loop = new EventLoop(new EventLoopOptions { LoggerFactory = factory }))
            {
                Assert.Equal(IoUringBackend.Refusal is null ? LoopBackend.IoUring : LoopBackend.Epoll, loop.Backend);
            }
            // Options win over the environment.
            using (var loop = new EventLoop(new EventLoopOptions { LoggerFactory = factory, Backend = LoopBackend.Epoll }))
            {
                Assert.Equal(LoopBackend.Epoll, loop.Backend);
            }
            logs.Entries.Clear();
            Environment.SetEnvironmentVariable(EventLoop.BackendEnvironmentVariable, "kqueue");
            using (var loop = new EventLoop(new EventLoopOptions { LoggerFactory = factory }))
            {
                Assert.Equal(LoopBackend.Epoll, loop.Backend);
            }
            CapturingLoggerProvider.Entry warning = Assert.Single(logs.Entries);
            Assert.Contains("kqueue", warning.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(EventLoop.BackendEnvironmentVariable, null);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ASpinningLoopHearsReadinessAndPostsWhileSpinningAndAfterItSleeps(bool ioUring)
    {
        EventLoop loop = NewLoop(new EventLoopOptions
        {
            Backend = ioUring ? IoUringBackend.Backend : LoopBackend.Epoll,
            SpinBeforeSleep = TimeSpan.FromMilliseconds(20),
        });
        var (r, w) = TestUtil.Pipe();
        Own(r);
        Own(w);
        var reads = new System.Collections.Concurrent.BlockingCollection<byte>();
        loop.Register(Kevent.Read(r.Fd), (in Kevent _) =>
        {
            byte[] one = new byte[1];
            if (Io.Read(r.Fd, one) == 1)
            {
                reads.Add(one[0]);
            }
        });
        Task running = loop.RunAsync();
        for (byte round = 1; round <= 3; round++)
        {
            // Round 1 lands while the loop still spins (within 20 ms of its last turn); later rounds after it slept.
            WriteByte(w, round);
            Assert.True(reads.TryTake(out byte got, TimeSpan.FromSeconds(10)), $"round {round}: the byte was never read");
            Assert.Equal(round, got);
            var posted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(() => posted.SetResult());
            await posted.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await Task.Delay(round * 30);
        }
        await loop.InvokeAsync(() => loop.Unregister((ulong)r.Fd, KeventFilter.Read));
        loop.Stop();
        await running.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void AnUnknownBackendValueIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventLoop(new EventLoopOptions { Backend = (LoopBackend)7 }));

    [IoUringFact]
    public void UnregisterThenCloseReleasesTheSocketSoThePeerSeesTheEnd()
    {
        // The ring's poll holds a reference to the file until its removal reaches the kernel; the loop must send the
        // removal on its next turn, or a closed connection would stay open for its peer.
        EventLoop loop = NewLoop(new EventLoopOptions { Backend = LoopBackend.IoUring });
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        loop.Register(Kevent.Read(b.Fd), (in Kevent _) => { });
        RunFor(loop, TimeSpan.FromMilliseconds(20));
        loop.Unregister((ulong)b.Fd, KeventFilter.Read);
        b.Dispose();
        RunFor(loop, TimeSpan.FromMilliseconds(20));
        Assert.True(SpinWait.SpinUntil(() => Io.Read(a.Fd, new byte[1]) == 0, TimeSpan.FromSeconds(5)), "the peer never saw the end");
    }

    [IoUringFact]
    public void ManyDescriptorsReadyAtOnceAreEachDeliveredInBatchesNoLargerThanTheLimit() =>
        ManyDescriptorsReadyAtOnce(new EventLoopOptions { Backend = LoopBackend.IoUring, MaxEventsPerWait = 16 });

    [IoUringFact]
    public void ATinyRingLosesAndDuplicatesNothing()
    {
        // Four submission entries: registering 300 descriptors must send the queue on whenever it fills. Eight
        // completion entries: 300 ready polls overflow it, so the kernel holds completions back (NODROP) and the loop
        // must bring them in, over many turns, without losing or repeating one.
        var options = new EventLoopOptions { Backend = LoopBackend.IoUring, MaxEventsPerWait = 16, IoUringEntries = 4, IoUringCompletionEntries = 8 };
        EventLoop loop = ManyDescriptorsReadyAtOnce(options);
        Assert.Equal(8u, loop.Ring!.CompletionQueueSize);
        Assert.True(_sawOverflow, "the completion queue never overflowed, so this test proved nothing");
    }

    private bool _sawOverflow;

    private EventLoop ManyDescriptorsReadyAtOnce(EventLoopOptions options)
    {
        // More ready descriptors than one turn collects: the rest wait in the completion queue for the next turn,
        // and every level-triggered one is delivered again until it is drained, none twice in one turn.
        const int Count = 300;
        EventLoop loop = NewLoop(options);
        var pipes = new (FileDescriptor R, FileDescriptor W)[Count];
        int drained = 0;
        var delivered = new int[Count];
        var seenThisTurn = new HashSet<int>();
        long turn = -1;
        for (int i = 0; i < Count; i++)
        {
            pipes[i] = TestUtil.Pipe();
            Own(pipes[i].R);
            Own(pipes[i].W);
            int index = i;
            loop.Register(Kevent.Read(pipes[i].R.Fd), (in Kevent ev) =>
            {
                if (loop.Iterations != turn)
                {
                    turn = loop.Iterations;
                    seenThisTurn.Clear();
                }
                _sawOverflow |= loop.Ring!.HasOverflow;
                Assert.True(seenThisTurn.Add(index), $"pipe {index} was delivered twice in one turn");
                Assert.True(seenThisTurn.Count <= 16, "a turn delivered more than MaxEventsPerWait descriptors");
                Assert.True(delivered[index]++ < 2, $"pipe {index} was delivered more often than it had bytes");
                // Read one byte per delivery: the second byte must bring a second delivery (level-triggered).
                Assert.Equal(1, Io.Read((int)ev.Ident, new byte[1]));
                if (Io.BytesAvailable((int)ev.Ident) == 0 && ++drained == Count)
                {
                    loop.Stop();
                }
            });
            Assert.Equal(2, Io.Write(pipes[i].W.Fd, [1, 2]));
        }
        RunWithLimit(loop);
        Assert.Equal(Count, drained);
        foreach (var (r, _) in pipes)
        {
            loop.Unregister((ulong)r.Fd, KeventFilter.Read);
        }
        return loop;
    }
}

/// <summary>Multishot receive into the loop's provided buffers (io_uring backend), as Kevents.Net's StreamConnection uses it.</summary>
public sealed class RingReceiveTests : LoopTest
{
    private EventLoop NewRingLoop()
    {
        EventLoop loop = NewLoop(new EventLoopOptions { Backend = LoopBackend.IoUring });
        Assert.NotEqual(0u, loop.ReceiveInRingIfSupported);
        return loop;
    }

    private static Kevent ReceiveKevent(int fd) =>
        new((ulong)fd, KeventFilter.Read, KeventFlags.None, EventLoop.ReceiveInRingFilterFlag, 0, 0);

    [IoUringFact]
    public void BytesArriveInTheKeventWithoutAReadAndTheEndIsAnOrderlyEof()
    {
        EventLoop loop = NewRingLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(b);
        var received = new List<byte>();
        bool ended = false;
        // Every read(2) fails: bytes can only come through the ring.
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.Read, Errno.EIO, 1)))
        {
            loop.Register(ReceiveKevent(b.Fd), (in Kevent ev) =>
            {
                Assert.NotEqual(0u, ev.FilterFlags & EventLoop.ReceivedFilterFlag);
                if (ev.Data > 0)
                {
                    Assert.Equal((int)ev.Data, loop.ReceivedBytes.Length);
                    received.AddRange(loop.ReceivedBytes.ToArray());
                    if (received.Count == 3)
                    {
                        a.Dispose();
                    }
                }
                else
                {
                    Assert.Equal(0, ev.Data);
                    Assert.True(ev.IsEof);
                    Assert.False(ev.IsError);
                    ended = true;
                    loop.Unregister(ev.Ident, KeventFilter.Read);
                    loop.Stop();
                }
            });
            Assert.Equal(3, Io.Write(a.Fd, [1, 2, 3]));
            RunWithLimit(loop);
        }
        Assert.Equal(new byte[] { 1, 2, 3 }, received);
        Assert.True(ended);
    }

    [IoUringFact]
    public void WhenMoreConnectionsHaveBytesThanTheRingHasBuffersItGrowsAndLosesNothing()
    {
        // Two buffers to start (room for sixteen), eight connections with bytes already waiting when their receives are
        // armed, and one completion taken per turn: receives run out of buffers (ENOBUFS) and wait for a re-arm; the
        // loop adds buffers, and every connection still gets its bytes, in order.
        const int Pairs = 8;
        EventLoop loop = NewLoop(new EventLoopOptions
        {
            Backend = LoopBackend.IoUring,
            IoUringReceiveBufferChunk = 2,
            IoUringReceiveBufferLimit = 16,
            MaxEventsPerWait = 1,
        });
        Assert.NotEqual(0u, loop.ReceiveInRingIfSupported);
        Assert.Equal(2, loop.ReceiveBufferCount);
        var received = new List<byte>[Pairs];
        int complete = 0;
        for (int i = 0; i < Pairs; i++)
        {
            var (a, b) = TestUtil.SocketPair();
            Own(a);
            Own(b);
            var mine = received[i] = new List<byte>();
            Assert.Equal(3, Io.Write(a.Fd, [(byte)i, (byte)(i + 100), (byte)(i + 200)]));
            loop.Register(ReceiveKevent(b.Fd), (in Kevent ev) =>
            {
                Assert.True(ev.Data > 0, $"a receive ended with {ev.Data}");
                mine.AddRange(loop.ReceivedBytes.ToArray());
                if (mine.Count == 3 && ++complete == Pairs)
                {
                    loop.Stop();
                }
            });
        }
        RunWithLimit(loop);
        for (int i = 0; i < Pairs; i++)
        {
            Assert.Equal(new[] { (byte)i, (byte)(i + 100), (byte)(i + 200) }, received[i]);
        }
        Assert.True(loop.ReceiveBufferCount > 2, $"the ring did not grow ({loop.ReceiveBufferCount} buffers)");
        Assert.True(loop.ReceiveBufferCount <= 16);
        Assert.Contains(Gate.Logs.Entries, e => e.EventId.Name == "ReceiveBuffersGrown");
    }

    [IoUringFact]
    public void AResetIsAnErrorNeverAnOrderlyEnd()
    {
        EventLoop loop = NewRingLoop();
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using var server = listener.Accept();
        int fd = (int)server.Handle;
        long? result = null;
        bool error = false;
        loop.Register(ReceiveKevent(fd), (in Kevent ev) =>
        {
            result = ev.Data;
            error = ev.IsError;
            loop.Unregister(ev.Ident, KeventFilter.Read);
            loop.Stop();
        });
        client.LingerState = new System.Net.Sockets.LingerOption(true, 0);
        client.Close(); // RST
        RunWithLimit(loop);
        Assert.True(error);
        Assert.Equal(-Errno.ECONNRESET, result);
    }

    [IoUringFact]
    public void WhileDisabledNothingIsDeliveredAndNothingIsLostOrReordered()
    {
        // Disable cancels the receive, but chunks the kernel already received wait, in order, until Enable. The first
        // byte goes alone and the other 199 only once it is delivered (and the receive disabled): written from the
        // start, a writer thread delayed by a busy machine once had all 200 arrive as the first chunk.
        EventLoop loop = NewRingLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        var received = new List<byte>();
        bool paused = false;
        using var firstDelivered = new ManualResetEventSlim();
        loop.Register(ReceiveKevent(b.Fd), (in Kevent ev) =>
        {
            Assert.False(paused, "a chunk was delivered while the registration was disabled");
            received.AddRange(loop.ReceivedBytes.ToArray());
            if (!firstDelivered.IsSet)
            {
                paused = true;
                loop.Disable(ev.Ident, KeventFilter.Read);
                firstDelivered.Set();
            }
            if (received.Count == 200)
            {
                loop.Stop();
            }
        });
        // 199 separate one-byte writes racing the cancellation, while the loop turns: most arrive as chunks of their own.
        bool wrote = false;
        var writer = new Thread(() =>
        {
            if (!firstDelivered.Wait(TimeSpan.FromSeconds(10)))
            {
                loop.Post(loop.Stop);
                return;
            }
            for (int i = 1; i < 200; i++)
            {
                Io.Write(a.Fd, [(byte)i]);
                if (i % 20 == 0)
                {
                    Thread.Sleep(1);
                }
            }
            wrote = true;
            Thread.Sleep(100); // let the loop turn with the last chunks arriving
            loop.Post(loop.Stop);
        });
        Assert.Equal(1, Io.Write(a.Fd, [0]));
        writer.Start();
        RunWithLimit(loop, TimeSpan.FromSeconds(20));
        Assert.True(writer.Join(TimeSpan.FromSeconds(10)));
        Assert.True(wrote, "the first byte was never delivered");
        Assert.Equal(new byte[] { 0 }, received);
        paused = false;
        loop.Enable((ulong)b.Fd, KeventFilter.Read);
        RunWithLimit(loop);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (byte)i), received);
        loop.Unregister((ulong)b.Fd, KeventFilter.Read);
    }

    /// <summary>
    /// Three chunks arrive as three completions in one turn (1 ms apart, while the receive is armed and nobody reaps);
    /// the handler disables on the first, so the other two are held.
    /// </summary>
    private static void HoldSome(EventLoop loop, FileDescriptor writer)
    {
        loop.Poll(new Kevent[1], TimeSpan.Zero);
        for (int i = 0; i < 3; i++)
        {
            Io.Write(writer.Fd, [(byte)i]);
            Thread.Sleep(2);
        }
        loop.Poll(new Kevent[1], TimeSpan.Zero);
        Assert.True(loop.HeldCount >= 1, "no chunk was held, so this test proved nothing");
    }

    [IoUringFact]
    public void HeldChunksComeFirstAndInOrderOnceEnabled()
    {
        EventLoop loop = NewRingLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        var received = new List<byte>();
        bool disableNext = true;
        loop.Register(ReceiveKevent(b.Fd), (in Kevent ev) =>
        {
            received.AddRange(loop.ReceivedBytes.ToArray());
            if (disableNext)
            {
                disableNext = false;
                loop.Disable(ev.Ident, KeventFilter.Read);
            }
        });
        HoldSome(loop, a);
        Assert.Equal(new byte[] { 0 }, received);
        Io.Write(a.Fd, [3]);
        loop.Enable((ulong)b.Fd, KeventFilter.Read);
        for (int i = 0; i < 50 && received.Count < 4; i++)
        {
            loop.Poll(new Kevent[1], TimeSpan.FromMilliseconds(20));
        }
        Assert.Equal(new byte[] { 0, 1, 2, 3 }, received);
        Assert.Equal(0, loop.HeldCount);
        loop.Unregister((ulong)b.Fd, KeventFilter.Read);
    }

    [IoUringFact]
    public void BuffersOfChunksHeldForARemovedRegistrationGoBackToTheRing()
    {
        // The ring has 512 buffers. Hold some for a paused registration, remove it, then receive well over 512 chunks on
        // another socket: had the held buffers leaked, the ring would run dry and the receive would stall.
        EventLoop loop = NewRingLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        loop.Register(ReceiveKevent(b.Fd), (in Kevent ev) => loop.Disable(ev.Ident, KeventFilter.Read));
        HoldSome(loop, a);
        loop.Unregister((ulong)b.Fd, KeventFilter.Read);
        loop.Poll(new Kevent[1], TimeSpan.Zero);
        Assert.Equal(0, loop.HeldCount);

        var (c, d) = TestUtil.SocketPair();
        Own(c);
        Own(d);
        int chunks = 0, bytes = 0;
        loop.Register(ReceiveKevent(d.Fd), (in Kevent ev) =>
        {
            chunks++;
            bytes += (int)ev.Data;
            if (bytes == 2000)
            {
                loop.Stop();
            }
        });
        var writer = new Thread(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                Io.Write(c.Fd, [1]);
                if (i % 50 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        });
        writer.Start();
        RunWithLimit(loop);
        writer.Join();
        Assert.Equal(2000, bytes);
        loop.Unregister((ulong)d.Fd, KeventFilter.Read);
    }
}
