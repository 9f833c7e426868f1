using Kevents.Hybrid.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Hybrid;

/// <summary>
/// A loop's threadlet machinery: the cache-miss thread pool (one group of threads per <see cref="WorkClass"/>), the
/// completion path back into the loop, adaptive routing, the blocked-loop watchdog and shutdown. One per loop, made by
/// <see cref="EventLoopThreadletExtensions.UseThreadlets"/> or by the first threadlet.
/// </summary>
/// <remarks>
/// The runtime owns the loop's handler for <see cref="KeventFilter.Threadlet"/> kevents that have no registration
/// (the completions of awaited threadlets); do not replace it with <see cref="EventLoop.SetFilterHandler"/>.
/// Counters are exact when read on the loop thread and approximately current elsewhere.
/// </remarks>
public sealed partial class ThreadletRuntime
{
    private const int MaxPooledThreadlets = 64;

    private readonly ThreadletOptions _options;
    private readonly TimeProvider _time;
    private readonly WorkerGroup _short;
    private readonly WorkerGroup _long;
    private readonly KindRouter _router;
    private readonly HybridMetrics _metrics;

    internal HybridMetrics Metrics => _metrics;
    // Guarded by its own lock. A plain Dictionary reuses its entries, where a ConcurrentDictionary allocates a node
    // per add: this is on every offloaded threadlet's path.
    private readonly Dictionary<ulong, ThreadletCompletion> _inflight = new();
    private readonly Stack<Threadlet> _free = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly KeventHandler _onCompletion;
    private readonly long _watchThresholdTicks;
    private ulong _nextId;
    private int _simulated;

    internal ThreadletRuntime(EventLoop loop, ThreadletOptions options)
    {
        Loop = loop;
        _options = options;
        _time = loop.Options.TimeProvider ?? TimeProvider.System;
        Logger = loop.LoggerFactory.CreateLogger("Kevents.Hybrid");
        _simulated = (int)options.SimulateBlocking;
        _short = new WorkerGroup(this, WorkClass.Short, options.MaxShortThreads, options.MaxQueuedShort, options.QueueFullPolicy, options.IdleThreadTimeout, options.SpinBeforeIdle);
        _long = new WorkerGroup(this, WorkClass.Long, options.MaxLongThreads, options.MaxQueuedLong, options.QueueFullPolicy, options.IdleThreadTimeout, options.SpinBeforeIdle);
        _router = new KindRouter(this, options);
        _metrics = new HybridMetrics();
        _onCompletion = OnCompletionKevent;
        if (options.WatchdogThreshold is { } threshold)
        {
            _watchThresholdTicks = Math.Max(1, (long)(threshold.TotalSeconds * _time.TimestampFrequency));
        }
    }

    /// <summary>The loop this runtime serves.</summary>
    public EventLoop Loop { get; }

    /// <summary>The options the runtime was created with.</summary>
    public ThreadletOptions Options => _options;

    /// <summary>
    /// Deterministic test mode: operations treated as "would block" without asking the kernel. Safe to change from any
    /// thread at any time; primitives read it on every call.
    /// </summary>
    internal SimulatedBlocking SimulateBlocking
    {
        get => (SimulatedBlocking)Volatile.Read(ref _simulated);
        set => Volatile.Write(ref _simulated, (int)value);
    }

    /// <summary>Threadlets that completed without leaving the loop thread.</summary>
    public long InlineCompletions => Volatile.Read(ref _metrics.Inline);

    /// <summary>Threadlets that continued on (or started on) a cache-miss thread.</summary>
    public long Offloaded => Volatile.Read(ref _metrics.Offloaded);

    /// <summary>Blocking operations refused because their queue was full, or because no thread could start (out of descriptors).</summary>
    public long Rejected => Volatile.Read(ref _metrics.Rejected);

    /// <summary>Queued blocking operations cancelled before a thread took them.</summary>
    public long CancelledWhileQueued => Volatile.Read(ref _metrics.Cancelled);

    /// <summary>Handlers, posted items and inline threadlet segments the watchdog reported.</summary>
    public long LoopBlockedReports => Volatile.Read(ref _metrics.LoopBlocked);

    /// <summary>What the watchdog reported last ("Type.Method", or "threadlet Type.Method"), or null.</summary>
    public string? LastBlockedBy { get; private set; }

    /// <summary>Threadlets that started and have not delivered their completion yet (they left the loop or await something).</summary>
    public int InFlight
    {
        get
        {
            lock (_inflight)
            {
                return _inflight.Count;
            }
        }
    }

    /// <summary>The report of the last <see cref="Shutdown"/>, or null while the runtime runs.</summary>
    public ThreadletShutdownReport? LastShutdownReport { get; private set; }

    /// <summary>Cache-miss threads alive in <paramref name="workClass"/>.</summary>
    public int ThreadsAlive(WorkClass workClass) => Group(workClass).Alive;

    /// <summary>Operations waiting for a thread of <paramref name="workClass"/>.</summary>
    public int QueueDepth(WorkClass workClass) => Group(workClass).Queued;

    internal ILogger Logger { get; }

    internal bool IsShuttingDown => _shutdown.IsCancellationRequested;

    internal CancellationToken ShutdownToken => _shutdown.Token;

    internal long TimestampFrequency => _time.TimestampFrequency;

    internal long Now() => _time.GetTimestamp();

    internal bool Simulates(SimulatedBlocking operation) => (Volatile.Read(ref _simulated) & (int)operation) != 0;

    /// <summary>The adaptive route of the kind behind <paramref name="body"/> (tests; nothing outside needs it).</summary>
    internal KindRouter.Route RouteOf(Delegate body) => _router.RouteOf(body);

    private int _attached;

    internal bool IsAttached => Volatile.Read(ref _attached) != 0;

    /// <summary>
    /// Wires the runtime that won the race to be the loop's: metrics (the loop's disposal shuts it down through HybridLoop), and (on the loop thread) the
    /// Threadlet filter handler and the watchdog. False when it was already attached.
    /// </summary>
    internal bool TryAttach()
    {
        if (Interlocked.Exchange(ref _attached, 1) != 0)
        {
            return false;
        }
        _metrics.Publish(this, Loop.Name);
        if (Loop.IsOnLoopThread || !Loop.IsRunning)
        {
            AttachOnLoop();
        }
        else
        {
            Loop.Post(AttachOnLoop);
        }
        return true;
    }

    private void AttachOnLoop()
    {
        Loop.SetFilterHandler(KeventFilter.Threadlet, _onCompletion);
        if (_options.WatchdogThreshold is { } threshold)
        {
            Loop.WatchHandlers(threshold, OnLoopBlocked);
        }
    }

    private WorkerGroup Group(WorkClass workClass) => workClass == WorkClass.Short ? _short : _long;

    private ulong NextId() => Interlocked.Increment(ref _nextId);
}
