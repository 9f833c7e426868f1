using System.Diagnostics;
using System.IO.Pipelines;
using Kevents.Internal;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents;

/// <summary>
/// One event loop on one thread: every registered event (socket readiness, timer expiry, user trigger, signal,
/// file and threadlet completion) arrives as a <see cref="Kevent"/> and is handed to its handler by one dispatcher.
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> Every handler of a loop runs on the loop thread, so state owned by a loop needs no locks.
/// From other threads you may call <see cref="Post(Action)"/> (and its overloads), <see cref="Trigger(ulong)"/>,
/// <see cref="Complete(in Kevent)"/>, <see cref="Stop"/>, <see cref="Dispose"/> and <see cref="UpdateTime"/>, and
/// read the properties (<see cref="Name"/>, <see cref="IsRunning"/>, <see cref="IsOnLoopThread"/>, <see cref="Now"/>
/// and the like). Every other member (<see cref="Register(in Kevent, KeventHandler)"/>, <see cref="Unregister(ulong, KeventFilter)"/>,
/// <see cref="Enable"/>, <see cref="Disable"/>, <see cref="IsRegistered"/>, <see cref="SetFilterHandler"/>, ...) must
/// be called on the loop thread, or before the loop first runs; elsewhere it throws
/// <see cref="InvalidOperationException"/>.</para>
/// <para><b>Descriptors.</b> Unregister a descriptor before closing it. A descriptor closed while registered whose
/// open file lives on elsewhere (a dup, a child process) stays in epoll out of reach of
/// <see cref="Unregister(ulong, KeventFilter)"/>; the loop notices, logs a warning naming it, and rebuilds its epoll
/// set. On <see cref="LoopBackend.IoUring"/> Unregister removes the ring's poll by its request, which reaches it
/// after a close too.</para>
/// <para><b>Logging.</b> Handler failures and warnings go to <see cref="EventLoopOptions.LoggerFactory"/>, or to
/// standard error when none is set.</para>
/// <para><b>One turn of the loop</b>, in this order: (1) update the cached monotonic clock; (2) fire expired timers;
/// (3) run posted work, at most <see cref="EventLoopOptions.MaxPostedPerIteration"/> items; (4) compute the wait:
/// zero if work is pending, else until the next timer, else forever (optionally spinning first); (5) wait in
/// the poller (epoll, or the io_uring ring: <see cref="EventLoopOptions.Backend"/>) and collect ready kevents;
/// (6) drain the completion ring into the same batch; (7) dispatch the batch.</para>
/// <para><b>Spurious events.</b> Readiness is a hint: a handler may be called when a read or write would still
/// return EAGAIN, and must treat EAGAIN as normal. With <see cref="KeventFlags.Clear"/> (edge-triggered) a handler
/// must read or write until EAGAIN, or it may not hear of that descriptor again.</para>
/// </remarks>
public sealed partial class EventLoop : IDisposable
{
    private const int StateIdle = 0;
    private const int StateRunning = 1;
    private const int StateDisposed = 2;

    private readonly EventLoopOptions _options;
    private readonly string _name;
    private readonly ILogger _logger;
    // Replaced only on the loop thread, when a descriptor closed before Unregister leaves an entry nobody can remove.
    // Null on the io_uring backend, whose ring (_uring) is the poller instead.
    private FileDescriptor? _epoll;
    private readonly FileDescriptor _wakeFd;
    private readonly TimeProvider? _timeProvider;
    private readonly long _timeOrigin;
    private readonly ManualResetEventSlim _exited = new(initialState: true);

    private int _state;
    private int _loopThreadId;
    private volatile bool _stopRequested;
    private bool _disposeRequested;
    private long _nowNs;
    private readonly EventLoopSynchronizationContext _syncContext;

    /// <summary>Runs pipe callbacks on this loop's thread; use it for pipes whose ends live on the loop.</summary>
    public PipeScheduler PipeScheduler { get; }

    /// <summary>The synchronization context installed on the loop thread while it runs.</summary>
    public SynchronizationContext SynchronizationContext => _syncContext;

    /// <summary>Creates a loop with default options.</summary>
    public EventLoop() : this(new EventLoopOptions())
    {
    }

    /// <summary>
    /// Creates a loop with <paramref name="options"/>. Creating a loop opens two descriptors: the poller (an epoll set,
    /// or an io_uring ring on <see cref="LoopBackend.IoUring"/>) and an eventfd.
    /// </summary>
    public EventLoop(EventLoopOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _name = options.Name ?? NextDefaultName();
        _logger = LoggerFactory.CreateLogger("Kevents.EventLoop");
        _timeProvider = options.TimeProvider is { } tp && tp != TimeProvider.System ? tp : null;
        _timeOrigin = _timeProvider?.GetTimestamp() ?? 0;

        int rc = EventFd.Create(out FileDescriptor? wake);
        if (rc < 0)
        {
            throw ThrowHelper.NativeFailure("create the loop's wake-up eventfd", rc);
        }
        _wakeFd = wake!;
        _backend = ResolveBackend(options.Backend, out string? why);
        if (_backend == LoopBackend.IoUring && !TryStartIoUring(out why))
        {
            _backend = LoopBackend.Epoll;
        }
        if (_backend == LoopBackend.Epoll)
        {
            rc = Epoll.Create(out FileDescriptor? epoll);
            if (rc < 0)
            {
                _wakeFd.Dispose();
                throw ThrowHelper.NativeFailure("create the loop's epoll set", rc);
            }
            _epoll = epoll!;
            rc = Epoll.Control(_epoll.Fd, Epoll.Add, _wakeFd.Fd, EpollFlags.In, WakeToken);
            if (rc < 0)
            {
                _wakeFd.Dispose();
                _epoll.Dispose();
                throw ThrowHelper.NativeFailure("watch the wake-up eventfd", rc);
            }
        }
        if (why is not null)
        {
            Log.BackendFallback(_logger, _name, why);
        }

        _pollerEvents = new EpollEvent[options.MaxEventsPerWait];
        _batch = new BatchEntry[Math.Max(64, options.MaxEventsPerWait * 2)];
        _posted = new MpscRing<WorkItem>(options.RingCapacity);
        _completions = new MpscRing<Kevent>(options.RingCapacity);
        _timers = new TimerWheel();
        _runAsync = state => ObserveAsync((Func<Task>)state!);
        _syncContext = new EventLoopSynchronizationContext(this);
        PipeScheduler = new EventLoopPipeScheduler(this);
        _nowNs = ReadClock();
        _metrics = new LoopMetrics(_nowNs);
        JoinMetrics();
    }

    /// <summary>
    /// The loop's name, in logs, in the <c>kevents.loop</c> tag of its metrics and as the name of the thread
    /// <see cref="RunAsync"/> starts: <see cref="EventLoopOptions.Name"/>, or when that is null "kevents-loop-N" with N
    /// from a process-wide sequence starting at 0.
    /// </summary>
    public string Name => _name;

    /// <summary>The loop's options (read them; changing them after construction has no effect).</summary>
    public EventLoopOptions Options => _options;

    /// <summary>
    /// The logger factory the loop and the layers above it log through: <see cref="EventLoopOptions.LoggerFactory"/>,
    /// or when that is null a built-in one that writes warnings and errors to standard error.
    /// </summary>
    public ILoggerFactory LoggerFactory => _options.LoggerFactory ?? FallbackLoggerFactory ?? StderrLoggerFactory.Instance;

    /// <summary>
    /// Replaces the stderr default for loops built without <see cref="EventLoopOptions.LoggerFactory"/>. Tests point it
    /// at their leak gate's capture, so a handler failure or warning from any loop a test creates fails that test.
    /// </summary>
    internal static ILoggerFactory? FallbackLoggerFactory { get; set; }

    /// <summary>True while <see cref="Run"/> (or <see cref="Poll"/>) executes.</summary>
    public bool IsRunning => Volatile.Read(ref _state) == StateRunning;

    internal bool IsDisposed => Volatile.Read(ref _state) == StateDisposed;

    /// <summary>True when called on the thread running this loop.</summary>
    public bool IsOnLoopThread => IsRunning && Environment.CurrentManagedThreadId == _loopThreadId;

    /// <summary>The loop's cached monotonic time in milliseconds, updated at the start of every turn (phase 1).</summary>
    public long Now => _nowNs / 1_000_000;

    /// <summary>The loop's cached monotonic time in nanoseconds, updated at the start of every turn.</summary>
    public long NowNanoseconds => _nowNs;

    /// <summary>
    /// Runs the loop on the calling thread until <see cref="Stop"/> is called (from a handler or another thread)
    /// or the loop is disposed. Installs the loop's <see cref="SynchronizationContext"/> for the duration, so
    /// <c>await</c> inside a handler resumes on this thread.
    /// </summary>
    /// <exception cref="InvalidOperationException">The loop is already running.</exception>
    /// <exception cref="ObjectDisposedException">The loop was disposed.</exception>
    public void Run()
    {
        Enter(nameof(Run), Environment.CurrentManagedThreadId);
        RunEntered();
    }

    /// <summary>The body of <see cref="Run"/>, once the calling thread owns the loop.</summary>
    private void RunEntered()
    {
        SynchronizationContext? previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_syncContext);
        Log.LoopStarted(_logger, Name, _loopThreadId);
        _inRun = true;
        try
        {
            while (!_stopRequested)
            {
                RunOnce(Span<Kevent>.Empty, TimeoutForever);
            }
        }
        finally
        {
            _inRun = false;
            SynchronizationContext.SetSynchronizationContext(previous);
            Log.LoopStopped(_logger, Name, _metrics.Iterations);
            Leave();
        }
    }

    /// <summary>
    /// Runs the loop on a new dedicated thread until <see cref="Stop"/>, disposal, or cancellation of
    /// <paramref name="cancellationToken"/>. The task completes when the loop has returned.
    /// </summary>
    /// <exception cref="InvalidOperationException">The loop is already running.</exception>
    /// <exception cref="ObjectDisposedException">The loop was disposed.</exception>
    public Task RunAsync(CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            using CancellationTokenRegistration stopOnCancel = cancellationToken.Register(static s => ((EventLoop)s!).Stop(), this);
            try
            {
                RunEntered();
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = Name,
        };
        // The new thread owns the loop from this moment, not from when it gets scheduled: a caller that goes on to
        // use the loop right after RunAsync returns is already "another thread" and is told to Post.
        Enter(nameof(RunAsync), thread.ManagedThreadId);
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// Asks the loop to return from <see cref="Run"/> after the current turn. Safe from any thread and from handlers.
    /// A stop requested before <see cref="Run"/> starts makes that run return after one turn.
    /// </summary>
    public void Stop()
    {
        _stopRequested = true;
        Wake();
    }

    /// <summary>
    /// Stops the loop, waits for <see cref="Run"/> to return when it runs on another thread, and releases the epoll
    /// set, the eventfd and signal handlers. Registered descriptors are not closed: the caller owns them. Posted work
    /// that never ran is dropped (and logged). Safe from any thread; from a handler the release happens when the
    /// current turn ends.
    /// </summary>
    public void Dispose()
    {
        int state = Volatile.Read(ref _state);
        if (state == StateDisposed)
        {
            return;
        }
        if (state == StateRunning)
        {
            if (IsOnLoopThread)
            {
                _disposeRequested = true;
                Stop();
                return;
            }
            Stop();
            _exited.Wait();
        }
        Release();
    }

    private void Enter(string member, int ownerThreadId)
    {
        // Reset before the state says Running, so a Dispose from another thread that sees Running waits for Leave.
        _exited.Reset();
        int previous = Interlocked.CompareExchange(ref _state, StateRunning, StateIdle);
        if (previous == StateRunning)
        {
            throw new InvalidOperationException(
                $"EventLoop.{member}: the loop '{Name}' is already running on thread {_loopThreadId}. A loop runs on one thread at a time; create another loop for another thread.");
        }
        ObjectDisposedException.ThrowIf(previous == StateDisposed, this);
        _loopThreadId = ownerThreadId;
    }

    private void Leave()
    {
        _stopRequested = false;
        bool dispose = _disposeRequested;
        Volatile.Write(ref _state, StateIdle);
        _exited.Set();
        if (dispose)
        {
            Release();
        }
    }

    private void Release()
    {
        // First, so that no collection reports the loop while its features are being disposed.
        KeventsMeter.Remove(this);
        DisposeFeatures();
        if (Interlocked.Exchange(ref _state, StateDisposed) == StateDisposed)
        {
            return;
        }
        ReleaseSignals();
        int dropped = DropPendingWork();
        if (dropped > 0)
        {
            Log.PendingWorkDropped(_logger, Name, dropped);
        }
        _wakeFd.Dispose();
        _epoll?.Dispose();
        DrainRingAccepts();
        _uring?.Dispose();
        // After the ring: its teardown cancels the sends still in flight, whose senders then hold their bytes in vain.
        AbandonRingSends();
        // After the ring: the kernel may write into these buffers until the ring is gone.
        _receiveBuffers?.Dispose();
    }

    /// <summary>
    /// Throws unless the caller may touch this loop's state: on the loop thread, or while the loop is not running (before
    /// its first <see cref="Run"/>, or between runs). A layer calls it at the top of each of its loop-thread-only
    /// members, as the loop's own members do, so a caller on the wrong thread is told so instead of corrupting state.
    /// </summary>
    /// <remarks>Cheap enough for every call: a volatile read and a thread-id comparison, no allocation.</remarks>
    /// <param name="member">The member being called, as the caller should read it in the message (for example
    /// <c>"Listen"</c> gives "EventLoop.Listen must be called on the loop thread ...").</param>
    /// <exception cref="InvalidOperationException">The loop is running on another thread; the message says to use
    /// <see cref="Post(Action)"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop was disposed.</exception>
    public void VerifyAccess([System.Runtime.CompilerServices.CallerMemberName] string member = "")
    {
        int state = Volatile.Read(ref _state);
        if (state == StateRunning && Environment.CurrentManagedThreadId != _loopThreadId)
        {
            throw new InvalidOperationException(
                $"EventLoop.{member} must be called on the loop thread (thread {_loopThreadId}), not thread {Environment.CurrentManagedThreadId}. Use loop.Post(...) to run it on the loop.");
        }
        if (state == StateDisposed)
        {
            throw new ObjectDisposedException(nameof(EventLoop), $"EventLoop.{member}: the loop '{Name}' was disposed.");
        }
    }

    private long ReadClock()
    {
        if (_timeProvider is null)
        {
            return MonotonicClock.Nanoseconds();
        }
        TimeSpan elapsed = _timeProvider.GetElapsedTime(_timeOrigin);
        return elapsed.Ticks * 100;
    }

    /// <summary>
    /// Re-reads the clock now, for handlers that ran long and need a fresh time before arming a timer. Safe from any
    /// thread: it only refreshes the cached time that <see cref="Now"/> returns (handlers of the current turn then see
    /// the newer time).
    /// </summary>
    public void UpdateTime() => _nowNs = ReadClock();

    /// <summary>The poller's descriptor (the epoll set, or the io_uring ring), for tests that check its flags.</summary>
    internal int PollerFd => _uring?.RingFd ?? _epoll!.Fd;

    /// <summary>Entries in the descriptor table, for tests that check it is never sized by an unchecked number.</summary>
    internal int FdTableLength => _fds.Length;

    /// <summary>The wake-up eventfd, for tests that check its flags.</summary>
    internal int WakeFd => _wakeFd.Fd;

    [Conditional("DEBUG")]
    private void AssertOnLoop() => Debug.Assert(!IsRunning || Environment.CurrentManagedThreadId == _loopThreadId, "loop-thread only");
}
