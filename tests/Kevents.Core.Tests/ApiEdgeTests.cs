using System.Text.RegularExpressions;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>
/// The public API probed with edge values and misuse: out-of-range and reused descriptors, completions of kevents
/// that only the loop itself may raise, raw signal numbers, posts racing disposal.
/// </summary>
public partial class ApiEdgeTests : LoopTest
{
    [Fact]
    public void CompleteOfAReadKeventWithAnOutOfRangeIdentIsRefusedAndTheLoopGoesOn()
    {
        EventLoop loop = NewLoop();
        var error = Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(1_000_000_000, KeventFilter.Read)));
        Assert.Contains("Read", error.Message);
        Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(ulong.MaxValue, KeventFilter.Write)));

        // From another thread while the loop runs: the caller is told, the loop keeps running and handling signals.
        bool ran = false;
        Exception? offLoop = null;
        loop.Post(() => ThreadPool.QueueUserWorkItem(_ =>
        {
            offLoop = Record.Exception(() => loop.Complete(new Kevent(int.MaxValue, KeventFilter.Read)));
            loop.Post(() =>
            {
                ran = true;
                loop.Stop();
            });
        }));
        RunWithLimit(loop);
        Assert.True(ran);
        Assert.IsType<ArgumentException>(offLoop);
    }

    [Fact]
    public void CompleteOfARegisteredReadOrUserKeventIsRefusedWithTheReason()
    {
        EventLoop loop = NewLoop();
        var (r, w) = TestUtil.Pipe();
        Own(r);
        Own(w);
        int delivered = 0;
        loop.Register(Kevent.Read(r.Fd), (in Kevent _) => delivered++);
        loop.Register(Kevent.User(9), (in Kevent _) => delivered++);

        var read = Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent((ulong)r.Fd, KeventFilter.Read)));
        Assert.Contains("epoll", read.Message);
        var user = Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(9, KeventFilter.User)));
        Assert.Contains("Trigger", user.Message);
        Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(15, KeventFilter.Signal)));
        Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(1, KeventFilter.Timer)));
        Assert.Throws<ArgumentException>(() => loop.Complete(new Kevent(1, KeventFilter.None)));

        // What Complete is for still works beside them.
        ulong completed = 0;
        loop.Register(new Kevent(77, KeventFilter.Aio, KeventFlags.Oneshot), (in Kevent ev) =>
        {
            completed = ev.Ident;
            loop.Stop();
        });
        loop.Complete(new Kevent(77, KeventFilter.Aio, data: 5));
        RunWithLimit(loop);
        Assert.Equal(77UL, completed);
        Assert.Equal(0, delivered);
        loop.Unregister((ulong)r.Fd, KeventFilter.Read);
    }

    [Fact]
    public void RawSignalKeventOutsideOneToSixtyFourIsRefused()
    {
        EventLoop loop = NewLoop();
        foreach (ulong ident in new[] { ulong.MaxValue, 0UL, 65UL, (ulong)uint.MaxValue + 1 })
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => loop.Register(new Kevent(ident, KeventFilter.Signal), (in Kevent _) => { }));
            Assert.Contains("1 to 64", error.Message);
            Assert.False(loop.IsRegistered(ident, KeventFilter.Signal));
        }
    }

    [Fact]
    public void BogusDescriptorNumbersAreRefusedWithoutGrowingTheTable()
    {
        EventLoop loop = NewLoop();
        int before = loop.FdTableLength;
        foreach (int fd in new[] { 1_000_000, 100_000_000, int.MaxValue })
        {
            var error = Assert.Throws<ArgumentException>(() => loop.Register(Kevent.Read(fd), (in Kevent _) => { }));
            Assert.Contains($"fd {fd}", error.Message);
            Assert.Contains("EBADF", error.Message);
            Assert.Equal(before, loop.FdTableLength);
            Assert.False(loop.IsRegistered((ulong)fd, KeventFilter.Read));
        }
        var tooBig = Assert.Throws<ArgumentException>(() => loop.Register(new Kevent((ulong)int.MaxValue + 1, KeventFilter.Write), (in Kevent _) => { }));
        Assert.Contains("not a file descriptor", tooBig.Message);
        Assert.Equal(before, loop.FdTableLength);
    }

    [Fact]
    public void ReusedDescriptorNumberRegisteredAgainWithTheSameFlagsDelivers()
    {
        EventLoop loop = NewLoop();
        var (r1, w1) = TestUtil.Pipe();
        int number = r1.Fd;
        loop.Register(Kevent.Read(number), (in Kevent _) => { });
        // Closed without Unregister: the kernel drops it from the epoll set, the loop still has it on its books.
        r1.Dispose();
        w1.Dispose();
        var (r2, w2) = TestUtil.Pipe();
        Own(r2);
        Own(w2);
        Assert.Equal(number, r2.Fd);

        bool delivered = false;
        loop.Register(Kevent.Read(r2.Fd), (in Kevent _) =>
        {
            delivered = true;
            loop.Stop();
        });
        WriteByte(w2);
        RunWithLimit(loop, TimeSpan.FromSeconds(3));
        Assert.True(delivered);
        loop.Unregister((ulong)r2.Fd, KeventFilter.Read);
    }

    [Fact]
    public void DescriptorClosedBeforeUnregisterWhileADupStaysOpenIsReportedAndDoesNotSpinTheLoop()
    {
        var logs = new CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        EventLoop loop = NewLoop(new EventLoopOptions { LoggerFactory = factory });
        var (r, w) = TestUtil.Pipe();
        Own(w);
        WriteByte(w); // readable for good: level-triggered epoll reports it on every wait
        int number = r.Fd;
        var dup = Own(new FileDescriptor(Tmds.Linux.LibC.dup(number)));
        Assert.True(dup.Fd >= 0);
        loop.Register(Kevent.Read(number), (in Kevent _) => { });
        // The wrong order: close first. Unregister then cannot take it out of epoll (EBADF), and the dup keeps
        // the open file, so epoll keeps reporting it under the old number.
        r.Dispose();
        Assert.True(loop.Unregister((ulong)number, KeventFilter.Read));

        long iterationsBefore = loop.Iterations;
        RunFor(loop, TimeSpan.FromMilliseconds(300));
        long turns = loop.Iterations - iterationsBefore;

        if (loop.Backend == LoopBackend.Epoll)
        {
            CapturingLoggerProvider.Entry warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
            Assert.Contains($"fd {number}", warning.Message);
            Assert.Contains("Unregister before", warning.Message);
        }
        else
        {
            // io_uring removes a poll by its request, not by the descriptor's number, so Unregister reaches it even
            // after the close: nothing is left to report.
            Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Warning);
        }
        // An idle loop turns a handful of times in 300 ms (the stop timer, the warning); a spinning one, thousands.
        Assert.True(turns < 100, $"the loop turned {turns} times in 300 ms with nothing to do");
    }

    [GeneratedRegex(@"with (\d+) posted items")]
    private static partial Regex DroppedCount();

    [Fact]
    public void EveryPostRacingDisposeRunsIsReportedDroppedOrThrows()
    {
        const int Rounds = 60;
        const int Producers = 3;
        long posted = 0, ran = 0, refused = 0, dropped = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var logs = new CapturingLoggerProvider();
            using ILoggerFactory factory = logs.CreateFactory();
            var loop = new EventLoop(WithBackend(new EventLoopOptions { LoggerFactory = factory, RingCapacity = 64 }));
            Task run = loop.RunAsync();
            using var go = new Barrier(Producers + 1);
            var producers = Enumerable.Range(0, Producers).Select(_ => new Thread(() =>
            {
                go.SignalAndWait();
                long mine = 0;
                Action item = () => Interlocked.Increment(ref ran);
                while (true)
                {
                    try
                    {
                        loop.Post(item);
                        mine++;
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                        break;
                    }
                }
                Interlocked.Add(ref posted, mine);
            })).ToList();
            producers.ForEach(p => p.Start());
            go.SignalAndWait();
            Thread.SpinWait(2000 * (round % 7 + 1));
            loop.Dispose();
            Assert.True(producers.All(p => p.Join(TimeSpan.FromSeconds(10))), "a producer never saw the loop disposed");
            Assert.True(run.Wait(TimeSpan.FromSeconds(10)));
            foreach (CapturingLoggerProvider.Entry entry in logs.Entries.Where(e => e.EventId.Name == "PendingWorkDropped"))
            {
                dropped += long.Parse(DroppedCount().Match(entry.Message).Groups[1].Value);
            }
        }
        Assert.Equal(Rounds * Producers, refused);
        Assert.Equal(posted, ran + dropped);
    }

    [Fact]
    public void WithoutALoggerFactoryHandlerFailuresGoToStandardError()
    {
        // Descriptor 2 itself is pointed at a pipe for the test, so what is checked is what a terminal would show.
        var (r, w) = TestUtil.Pipe();
        Own(r);
        Own(w);
        int saved = Tmds.Linux.LibC.dup(2);
        Assert.True(saved >= 0);
        Assert.True(Tmds.Linux.LibC.dup2(w.Fd, 2) >= 0);
        // The leak gate routes loops without a factory into its capture; this test is about the default itself.
        ILoggerFactory? gate = EventLoop.FallbackLoggerFactory;
        EventLoop.FallbackLoggerFactory = null;
        try
        {
            EventLoop loop = NewLoop();
            loop.Register(Kevent.Timer(3, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) => throw new InvalidDataException("nobody saw this"));
            loop.Register(Kevent.Timer(4, TimeSpan.FromMilliseconds(20), periodic: false), (in Kevent _) => loop.Stop());
            RunWithLimit(loop);
        }
        finally
        {
            EventLoop.FallbackLoggerFactory = gate;
            Tmds.Linux.LibC.dup2(saved, 2);
            Tmds.Linux.LibC.close(saved);
        }
        var bytes = new byte[65536];
        long n = Io.Read(r.Fd, bytes);
        string text = n > 0 ? System.Text.Encoding.UTF8.GetString(bytes, 0, (int)n) : string.Empty;
        Assert.Contains("nobody saw this", text);
        Assert.Contains("HandlerFailed", text);
        Assert.Contains("Timer ident=3", text);
        // Warning and above only: the loop's Debug lines (started, stopped) stay out of a quiet process's stderr.
        Assert.DoesNotContain("running on thread", text);
        Assert.DoesNotContain("stopped after", text);
    }
}
