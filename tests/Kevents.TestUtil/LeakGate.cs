using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>
/// The one leak gate every test passes. Created when a test starts, checked when it ends:
/// <list type="bullet">
/// <item>the process holds exactly as many descriptors as when the test began, with no garbage collection or
/// finalizer run to help (a descriptor that only a finalizer would close is a leak);</item>
/// <item>no Kevents connection is alive;</item>
/// <item>every pooled buffer a connection took is back in its pool;</item>
/// <item>nothing was logged at Warning or above (a handler failure logs at Error) unless the test said it expects
/// it, whether through <see cref="LoggerFactory"/> or from any loop created without a logger factory.</item>
/// </list>
/// </summary>
/// <remarks>All of it is process-wide: a test assembly that uses the gate runs its tests one at a time.</remarks>
public sealed class LeakGate : IDisposable
{
    private readonly int _fdBaseline;
    private readonly Dictionary<int, string> _fdsAtStart;
    private readonly long _buffersBaseline;
    private readonly ILoggerFactory _loggerFactory;
    private readonly List<Func<CapturingLoggerProvider.Entry, bool>> _expected = new();
    private bool _disposed;

    private readonly TimeSpan _settle;

    /// <summary>
    /// Takes the baselines and routes loops without a logger factory into this gate's capture. At its check the gate
    /// waits up to <paramref name="settle"/> (default <see cref="TestUtil.DefaultTimeout"/>) for descriptors and
    /// connections still closing on other threads.
    /// </summary>
    public LeakGate(TimeSpan? settle = null)
    {
        _settle = settle ?? TestUtil.DefaultTimeout;
        // The watchdog's warning depends on how busy the machine is (a JIT pause on two shared cores can hold a loop
        // past 50 ms): tests that are about the watchdog assert it themselves.
        Expect(e => e.EventId.Name == "LoopBlocked");
        CountingPools.Install();
        _loggerFactory = Logs.CreateFactory();
        EventLoop.FallbackLoggerFactory = _loggerFactory;
        _fdsAtStart = StableFds();
        _fdBaseline = _fdsAtStart.Count;
        _buffersBaseline = CountingPools.Outstanding;
    }

    /// <summary>Every entry logged through <see cref="LoggerFactory"/> (and by loops without a factory of their own).</summary>
    public CapturingLoggerProvider Logs { get; } = new();

    /// <summary>The factory tests give to loops and servers whose logs the gate should see.</summary>
    public ILoggerFactory LoggerFactory => _loggerFactory;

    /// <summary>The descriptor count when the test began.</summary>
    public int FdBaseline => _fdBaseline;

    /// <summary>Lets any warning or error through (for tests that provoke them on purpose, e.g. descriptor exhaustion).</summary>
    public bool AllowWarnings { get; set; }

    /// <summary>Lets log entries that match <paramref name="entry"/> through; others at Warning or above still fail.</summary>
    public void Expect(Func<CapturingLoggerProvider.Entry, bool> entry) => _expected.Add(entry);

    /// <summary>Runs every check; throws (failing the test) on the first that does not hold.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (EventLoop.FallbackLoggerFactory == _loggerFactory)
        {
            EventLoop.FallbackLoggerFactory = null;
        }
        // Descriptors and connections may still be closing on a loop or pool thread that is finishing: wait for them,
        // but never collect garbage, so nothing a finalizer would close can pass.
        DateTime deadline = DateTime.UtcNow + _settle;
        while (DateTime.UtcNow < deadline && !Settled())
        {
            Thread.Sleep(10);
        }
        Dictionary<int, string> now = TestUtil.OpenFds();
        Assert.True(FdsSettled(now), $"Leak gate: expected {_fdBaseline} open descriptors but found {now.Count}; "
            + $"opened since the test began: {Describe(Opened(now))}; closed since: {Describe(Closed(now))}. All open:\n{TestUtil.DescribeOpenFds()}");
        long live = NetBuffers.LiveConnections;
        Assert.True(live == 0, $"Leak gate: {live} Kevents connection(s) still open after the test.");
        long buffers = CountingPools.Outstanding - _buffersBaseline;
        Assert.True(buffers == 0, $"Leak gate: {buffers} pooled buffer(s) not returned to their pool.");
        if (!AllowWarnings)
        {
            CapturingLoggerProvider.Entry[] bad = Logs.Entries
                .Where(e => e.Level >= LogLevel.Warning && !_expected.Any(x => x(e)))
                .ToArray();
            Assert.True(bad.Length == 0, "Leak gate: unexpected log entries at Warning or above:\n"
                + string.Join("\n", bad.Select(e => $"  {e.Level} {e.Category} [{e.EventId.Name}] {e.Message} {e.Exception}")));
        }
        _loggerFactory.Dispose();
    }

    private bool Settled() =>
        FdsSettled(TestUtil.OpenFds()) && NetBuffers.LiveConnections == 0 && CountingPools.Outstanding == _buffersBaseline;

    /// <summary>
    /// As many descriptors as at the start; or fewer, when nothing new is open and what closed is a pipe or a file of
    /// someone else's: the runtime and the test host open such descriptors for moments on threads of their own (a
    /// child process' pipes while it starts, say), and on a busy machine one of those moments once fell on the
    /// baseline. A socket or an anonymous inode (eventfd, timerfd, epoll, io_uring) that closed is never excused: that
    /// is what a double close in Kevents would look like.
    /// </summary>
    private bool FdsSettled(Dictionary<int, string> now)
    {
        if (now.Count == _fdBaseline)
        {
            return true;
        }
        return now.Count < _fdBaseline && !Opened(now).Any()
            && Closed(now).All(fd => !fd.Value.StartsWith("socket:", StringComparison.Ordinal) && !fd.Value.StartsWith("anon_inode:", StringComparison.Ordinal));
    }

    private IEnumerable<KeyValuePair<int, string>> Opened(Dictionary<int, string> now) =>
        now.Where(fd => !(_fdsAtStart.TryGetValue(fd.Key, out string? target) && target == fd.Value));

    private IEnumerable<KeyValuePair<int, string>> Closed(Dictionary<int, string> now) =>
        _fdsAtStart.Where(fd => !(now.TryGetValue(fd.Key, out string? target) && target == fd.Value));

    private static string Describe(IEnumerable<KeyValuePair<int, string>> fds)
    {
        string text = string.Join(", ", fds.OrderBy(fd => fd.Key).Select(fd => $"{fd.Key} -> {fd.Value}"));
        return text.Length == 0 ? "none" : text;
    }

    /// <summary>The open descriptors once two listings a moment apart agree (up to 20 tries), so a baseline is not taken mid-flight.</summary>
    private static Dictionary<int, string> StableFds()
    {
        Dictionary<int, string> fds = TestUtil.OpenFds();
        for (int i = 0; i < 20; i++)
        {
            Thread.Sleep(1);
            Dictionary<int, string> again = TestUtil.OpenFds();
            if (again.Count == fds.Count && again.All(fd => fds.TryGetValue(fd.Key, out string? target) && target == fd.Value))
            {
                return again;
            }
            fds = again;
        }
        return fds;
    }
}
