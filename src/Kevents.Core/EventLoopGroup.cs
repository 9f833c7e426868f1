using Kevents.Internal;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents;

/// <summary>
/// N event loops, one thread each (named <c>kevents-loop-0</c>, <c>kevents-loop-1</c>, ...), started, stopped and
/// disposed together: the thread-per-core shape, where each loop owns its connections and shares nothing with the
/// others. Listeners spread connections over the loops (Kevents.Net's <c>group.ListenTcp</c>); a connection stays on
/// the loop that took it for its whole life.
/// </summary>
/// <remarks>
/// <para><b>Between loops.</b> Loops talk only by posting work: <c>group.Loops[i].Post(...)</c> from any thread, also
/// from another loop's handler, runs the work on loop i, in the order each producer posted it. Nothing else of a loop
/// may be touched from another loop's thread; its members check and throw (<see cref="EventLoop.VerifyAccess"/>).</para>
/// <para><b>Lifetime.</b> Create the group, set up listeners (before or after <see cref="Start"/>), call
/// <see cref="Start"/>, and later <see cref="Stop"/> (every loop returns after its current turn, as
/// <see cref="EventLoop.Stop"/> does) and <see cref="Dispose"/> (stops, waits for every thread to end, and disposes
/// every loop, which closes the listeners and connections still on it).</para>
/// </remarks>
public sealed class EventLoopGroup : IDisposable
{
    private readonly EventLoop[] _loops;
    private readonly int[] _cpus;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next = -1;
    private int _started;
    private int _disposed;

    /// <summary>Creates a group of <see cref="Environment.ProcessorCount"/> loops with default options.</summary>
    public EventLoopGroup() : this(new EventLoopGroupOptions())
    {
    }

    /// <summary>
    /// Creates the loops of <paramref name="options"/> (not started yet). Each loop opens two descriptors (an epoll set
    /// and an eventfd).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public EventLoopGroup(EventLoopGroupOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Validate();
        int count = options.LoopCount;
        _loops = new EventLoop[count];
        _cpus = new int[count];
        Array.Fill(_cpus, -1);
        try
        {
            for (int i = 0; i < count; i++)
            {
                var loopOptions = new EventLoopOptions { Name = $"kevents-loop-{i}", LoggerFactory = options.LoggerFactory, Backend = options.Backend };
                options.ConfigureLoop?.Invoke(i, loopOptions);
                _loops[i] = new EventLoop(loopOptions);
            }
        }
        catch
        {
            foreach (EventLoop? loop in _loops)
            {
                loop?.Dispose();
            }
            throw;
        }
        _logger = _loops[0].LoggerFactory.CreateLogger("Kevents.EventLoopGroup");
        if (options.PinToCpus)
        {
            int[] allowed = CpuAffinity.AllowedCpus();
            if (allowed.Length == 0)
            {
                Log.AffinityUnavailable(_logger);
            }
            else
            {
                for (int i = 0; i < count; i++)
                {
                    _cpus[i] = allowed[i % allowed.Length];
                }
            }
        }
        Loops = _loops.AsReadOnly();
    }

    /// <summary>
    /// Starts one loop's thread. Tests replace it to make a loop thread end with an exception, which a real loop does
    /// only when something inside Kevents is broken.
    /// </summary>
    internal Func<EventLoop, Task> RunLoop { get; set; } = static loop => loop.RunAsync();

    /// <summary>The options the group was created with.</summary>
    public EventLoopGroupOptions Options { get; }

    /// <summary>The loops, in order: loop i runs on the thread named <c>kevents-loop-</c>i.</summary>
    public IReadOnlyList<EventLoop> Loops { get; }

    /// <summary>How many loops the group has.</summary>
    public int Count => _loops.Length;

    /// <summary>True between <see cref="Start"/> and the moment every loop thread has ended.</summary>
    public bool IsRunning => Volatile.Read(ref _started) == 1 && !_completion.Task.IsCompleted;

    /// <summary>
    /// Completes when every loop thread has ended after <see cref="Start"/> (or at <see cref="Dispose"/> when the
    /// group never started). Faults, with every exception, when a loop thread ended with one; such an exception is
    /// also logged at Critical when it happens.
    /// </summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// The next loop in round-robin order, for spreading work that has no better placement (outgoing connections,
    /// timers). Safe from any thread.
    /// </summary>
    public EventLoop Next()
    {
        uint n = (uint)Interlocked.Increment(ref _next);
        return _loops[n % (uint)_loops.Length];
    }

    /// <summary>The group's loop that runs the calling thread, or null when the caller is on none of them.</summary>
    public EventLoop? Current
    {
        get
        {
            foreach (EventLoop loop in _loops)
            {
                if (loop.IsOnLoopThread)
                {
                    return loop;
                }
            }
            return null;
        }
    }

    /// <summary>The index of <paramref name="loop"/> in <see cref="Loops"/>, or -1 when it is not one of the group's.</summary>
    public int IndexOf(EventLoop loop) => Array.IndexOf(_loops, loop);

    /// <summary>
    /// The CPU loop <paramref name="loopIndex"/> is pinned to with <see cref="EventLoopGroupOptions.PinToCpus"/>, or -1
    /// when loops are not pinned. Pinning happens on the loop's thread at its first turn; a failure is logged.
    /// </summary>
    public int GetPinnedCpu(int loopIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(loopIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(loopIndex, _loops.Length);
        return _cpus[loopIndex];
    }

    /// <summary>
    /// Starts every loop on its own thread (named after the loop). Returns at once; <see cref="Completion"/> completes
    /// when they have all ended.
    /// </summary>
    /// <exception cref="InvalidOperationException">The group was started before (a group runs once; create a new one).</exception>
    /// <exception cref="ObjectDisposedException">The group was disposed.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException(
                "EventLoopGroup.Start: the group was already started. A group runs once; after Stop, dispose it and create a new one.");
        }
        var runs = new Task[_loops.Length];
        for (int i = 0; i < _loops.Length; i++)
        {
            EventLoop loop = _loops[i];
            if (_cpus[i] >= 0)
            {
                // Posted before the thread starts, so it is the first work the loop runs, on its own thread.
                int cpu = _cpus[i];
                loop.Post(() => Pin(loop, cpu));
            }
            runs[i] = RunLoop(loop).ContinueWith(static (t, s) =>
            {
                var (group, name) = ((EventLoopGroup, string))s!;
                if (t.Exception is { } ex)
                {
                    Log.GroupLoopFailed(group._logger, name, ex.InnerExceptions.Count == 1 ? ex.InnerException! : ex);
                }
                return t;
            }, (this, loop.Name), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).Unwrap();
        }
        Task.WhenAll(runs).ContinueWith(static (t, s) =>
        {
            var completion = (TaskCompletionSource)s!;
            if (t.Exception is { } ex)
            {
                completion.TrySetException(ex.InnerExceptions);
            }
            else
            {
                completion.TrySetResult();
            }
        }, _completion, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void Pin(EventLoop loop, int cpu)
    {
        int rc = CpuAffinity.PinCurrentThread(cpu);
        if (rc < 0)
        {
            Log.AffinityFailed(_logger, loop.Name, cpu, Errno.Describe(rc));
        }
    }

    /// <summary>
    /// Asks every loop to return after its current turn (<see cref="EventLoop.Stop"/>). Safe from any thread and from
    /// handlers; returns at once. Wait on <see cref="Completion"/> (or call <see cref="Dispose"/>) for the threads to end.
    /// </summary>
    public void Stop()
    {
        foreach (EventLoop loop in _loops)
        {
            loop.Stop();
        }
    }

    /// <summary>
    /// Stops every loop, waits for every loop thread to end, and disposes every loop (each loop closes the listeners
    /// and connections on it). Safe from any thread; from one of the group's own handlers the loops are released as
    /// their threads end instead of being waited for. Idempotent.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        Stop();
        bool fromOwnLoop = Current is not null;
        foreach (EventLoop loop in _loops)
        {
            // From another thread this waits for the loop's thread to leave Run, then releases it.
            loop.Dispose();
        }
        if (Volatile.Read(ref _started) == 0)
        {
            _completion.TrySetResult();
        }
        else if (!fromOwnLoop)
        {
            // Join: the threads have left Run; wait for the tasks that report them, without rethrowing here (a failure
            // was logged when it happened and stays on Completion).
            ((IAsyncResult)_completion.Task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30));
        }
    }
}
