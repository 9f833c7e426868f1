using System.Diagnostics;

namespace Kevents.Hybrid.Internal;

// One class of cache-miss threads (Short or Long) and its queue.
//
// Threads are started on demand: when work is queued and there are fewer idle threads than queued items, one more
// thread starts, up to the bound. A thread that finds the queue empty waits up to the idle timeout and then exits.
// Everything here is guarded by one lock; the lock is held only to move items, never while work runs.
// Counts: _queued counts live items in line (cancelled ones leave at once, though they stay in _queue as
// tombstones that workers skip); _alive counts threads that have started and not exited; _busy those running work.
internal sealed class WorkerGroup
{
    private readonly object _lock = new();
    private readonly Queue<PendingOp> _queue = new();
    private readonly ThreadletRuntime _runtime;
    private readonly WorkClass _class;
    private readonly int _maxThreads;
    private readonly int _queueLimit;
    private readonly QueueFullPolicy _policy;
    private readonly int _idleTimeoutMs;
    private readonly string _threadName;

    private int _queued;
    private int _alive;
    private int _idle;
    private int _busy;
    private bool _stopping;

    public WorkerGroup(ThreadletRuntime runtime, WorkClass workClass, int maxThreads, int queueLimit, QueueFullPolicy policy, TimeSpan idleTimeout)
    {
        _runtime = runtime;
        _class = workClass;
        _maxThreads = maxThreads;
        _queueLimit = queueLimit;
        _policy = policy;
        _idleTimeoutMs = (int)Math.Clamp(idleTimeout.TotalMilliseconds, 1, int.MaxValue);
        _threadName = $"kevents-{runtime.Loop.Name}-{(workClass == WorkClass.Short ? "short" : "long")}";
    }

    public int Alive => Volatile.Read(ref _alive);

    public int Queued => Volatile.Read(ref _queued);

    public int Busy => Volatile.Read(ref _busy);

    /// <summary>Queues <paramref name="op"/>, starting a thread if none is free. False when the queue is full and the policy rejects.</summary>
    public bool TryEnqueue(PendingOp op)
    {
        lock (_lock)
        {
            if (_stopping)
            {
                return false;
            }
            if (_queued >= _queueLimit && _policy == QueueFullPolicy.Reject)
            {
                return false;
            }
            _queue.Enqueue(op);
            _queued++;
            if (_idle > 0)
            {
                Monitor.Pulse(_lock);
            }
            if (_queued > _idle && _alive < _maxThreads)
            {
                StartThread();
            }
            return true;
        }
    }

    /// <summary>A queued op was cancelled: it no longer counts against the limit (its tombstone is skipped later).</summary>
    public void OnCancelled()
    {
        lock (_lock)
        {
            _queued--;
        }
    }

    /// <summary>Stops taking work and cancels everything in line. Returns how many ops were cancelled.</summary>
    public int StopAndCancelQueued(Exception reason)
    {
        PendingOp[] waiting;
        lock (_lock)
        {
            _stopping = true;
            waiting = _queue.ToArray();
            _queue.Clear();
            Monitor.PulseAll(_lock);
        }
        int cancelled = 0;
        foreach (PendingOp op in waiting)
        {
            // TryCancel calls OnCancelled, which fixes _queued.
            if (op.TryCancel(reason))
            {
                cancelled++;
            }
        }
        return cancelled;
    }

    private void StartThread()
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        _alive++;
        var thread = new Thread(static state => ((WorkerGroup)state!).WorkerLoop())
        {
            IsBackground = true,
            Name = _threadName,
        };
        // UnsafeStart: the worker must not inherit the ExecutionContext (AsyncLocals) of whoever queued first.
        thread.UnsafeStart(this);
    }

    private void WorkerLoop()
    {
        // Cache-miss threads have no SynchronizationContext: awaits inside an offloaded threadlet stay off the loop.
        SynchronizationContext.SetSynchronizationContext(null);
        while (true)
        {
            PendingOp? op = Take();
            if (op is null)
            {
                return;
            }
            Interlocked.Increment(ref _busy);
            try
            {
                _runtime.RecordQueueTime(op);
                op.Run();
            }
            catch (Exception ex)
            {
                // The rest of a threadlet runs inside Run; its own failures end up in its completion. Anything here
                // is a bug in a continuation outside our control: report it and keep the thread.
                _runtime.OnWorkerFault(ex);
            }
            finally
            {
                Interlocked.Decrement(ref _busy);
            }
        }
    }

    /// <summary>
    /// Before sleeping, a thread that just finished work polls the queue briefly, outside the lock: a threadlet that
    /// hops to a thread and back usually queues its next blocking call within microseconds, and catching it here saves
    /// a futex wake-up on each side (the .NET thread pool spins for the same reason).
    /// </summary>
    private bool SpinForWork()
    {
        Monitor.Exit(_lock);
        try
        {
            var spinner = new SpinWait();
            for (int i = 0; i < SpinIterations; i++)
            {
                if (Volatile.Read(ref _queued) > 0)
                {
                    return true;
                }
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            return false;
        }
        finally
        {
            Monitor.Enter(_lock);
        }
    }

    // About 20-50 us of polling on current x64 parts; measured with ThreadletRoundTripBenchmarks.
    private const int SpinIterations = 40;

    /// <summary>Takes the next live op, waiting up to the idle timeout. Null means this thread should exit.</summary>
    private PendingOp? Take()
    {
        lock (_lock)
        {
            while (true)
            {
                while (_queue.TryDequeue(out PendingOp? op))
                {
                    if (op.TryStart())
                    {
                        _queued--;
                        return op;
                    }
                }
                if (_stopping)
                {
                    _alive--;
                    return null;
                }
                if (SpinForWork())
                {
                    continue;
                }
                _idle++;
                bool woken = Monitor.Wait(_lock, _idleTimeoutMs);
                _idle--;
                if (!woken && _queue.Count == 0)
                {
                    _alive--;
                    return null;
                }
            }
        }
    }
}
