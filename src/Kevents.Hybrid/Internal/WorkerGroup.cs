using System.Diagnostics;

namespace Kevents.Hybrid.Internal;

// One class of cache-miss threads (Short or Long) and its queue.
//
// Threads are started on demand: when work is queued and there are fewer idle threads than queued items, one more
// thread starts, up to the bound; but never while the process is out of descriptors (a starting thread needs some,
// and the runtime aborts the process when it finds none): then the work waits for the threads there are, or, with
// none, is refused with EMFILE. A thread that finds the queue empty waits up to the idle timeout and then exits.
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

    // Spinning (see SpinForWork). _spinning is 1 while a thread watches the queue outside the lock; it changes only
    // under the lock, so TryEnqueue counts that thread as available and neither pulses nor starts another for the
    // item it will take. _spinBudget is the current window in Stopwatch ticks, between _spinMax / 16 and _spinMax.
    private readonly long _spinMax;
    private long _spinBudget;
    private int _spinning;

    public WorkerGroup(ThreadletRuntime runtime, WorkClass workClass, int maxThreads, int queueLimit, QueueFullPolicy policy, TimeSpan idleTimeout,
        TimeSpan spinBeforeIdle)
    {
        _spinMax = (long)(spinBeforeIdle.TotalSeconds * Stopwatch.Frequency);
        _spinBudget = _spinMax;
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

    /// <summary>Queues <paramref name="op"/>, starting a thread if none is free; or says why it did not.</summary>
    public EnqueueResult TryEnqueue(PendingOp op)
    {
        lock (_lock)
        {
            if (_stopping)
            {
                return EnqueueResult.Stopping;
            }
            if (_queued >= _queueLimit && _policy == QueueFullPolicy.Reject)
            {
                return EnqueueResult.Full;
            }
            // The first thread must exist before the op is queued: if it cannot start (the process is out of
            // descriptors, which a starting thread needs), the op is refused rather than left with no one to run it.
            bool mayStart = true;
            if (_alive == 0 && _maxThreads > 0)
            {
                if (!_runtime.CanStartThread() || !StartThread())
                {
                    return EnqueueResult.NoThread;
                }
                mayStart = false;
            }
            if (!op.TryMarkQueued())
            {
                return EnqueueResult.Cancelled;
            }
            _queue.Enqueue(op);
            _queued++;
            // A spinning thread will take one item by itself: only what is beyond that needs a wake-up or a thread.
            int unclaimed = _queued - _spinning;
            if (unclaimed > 0)
            {
                if (_idle > 0)
                {
                    Monitor.Pulse(_lock);
                }
                // Near the descriptor limit the pool does not grow: the work waits for the threads it has.
                if (mayStart && unclaimed > _idle && _alive < _maxThreads && _runtime.CanStartThread())
                {
                    StartThread();
                }
            }
            return EnqueueResult.Queued;
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

    /// <summary>Starts one more worker. False when the runtime could not start it (out of memory or descriptors).</summary>
    private bool StartThread()
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        var thread = new Thread(static state => ((WorkerGroup)state!).WorkerLoop())
        {
            IsBackground = true,
            Name = _threadName,
        };
        try
        {
            // UnsafeStart: the worker must not inherit the ExecutionContext (AsyncLocals) of whoever queued first.
            thread.UnsafeStart(this);
        }
        catch (Exception ex) when (ex is OutOfMemoryException or ThreadStartException)
        {
            _runtime.OnThreadStartFailed(_class, ex);
            return false;
        }
        _alive++;
        return true;
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
    /// Before parking, one thread that just finished work watches the queue for a short, bounded window, outside the
    /// lock: a threadlet that hops to a thread and back usually queues its next blocking call within microseconds,
    /// and catching it here saves the futex wake-up (tens of microseconds on a VM). The window is adaptive: each spin
    /// that finds nothing halves it (down to 1/16), one that finds work restores it. Called and returns with the lock
    /// held; true when it spun, and the caller then looks at the queue again under the lock.
    /// </summary>
    private bool SpinForWork()
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_spinMax <= 0 || _spinning != 0)
        {
            return false;
        }
        _spinning = 1;
        bool found = false;
        long budget = _spinBudget;
        Monitor.Exit(_lock);
        try
        {
            long until = Stopwatch.GetTimestamp() + budget;
            do
            {
                if (Volatile.Read(ref _queued) > 0 || Volatile.Read(ref _stopping))
                {
                    found = true;
                    break;
                }
                // PAUSE only: no sched_yield, which on a busy machine hands the core away for a whole time slice.
                Thread.SpinWait(16);
            }
            while (Stopwatch.GetTimestamp() < until);
        }
        finally
        {
            Monitor.Enter(_lock);
            _spinning = 0;
        }
        _spinBudget = found ? _spinMax : Math.Max(_spinMax / 16, budget / 2);
        return true;
    }

    /// <summary>Takes the next live op, waiting up to the idle timeout. Null means this thread should exit.</summary>
    private PendingOp? Take()
    {
        bool spun = false;
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
                if (!spun && SpinForWork())
                {
                    // Look again under the lock whatever the spin saw: an item may have arrived as it ended.
                    spun = true;
                    continue;
                }
                spun = false;
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

/// <summary>What <see cref="WorkerGroup.TryEnqueue"/> did with an op.</summary>
internal enum EnqueueResult
{
    /// <summary>In line for a thread.</summary>
    Queued,
    /// <summary>Refused: the queue is at its limit and the policy rejects.</summary>
    Full,
    /// <summary>Refused: the runtime is shutting down.</summary>
    Stopping,
    /// <summary>Not queued: the caller's token was cancelled before the op could enter the queue.</summary>
    Cancelled,
    /// <summary>Refused: the class has no thread and none could start (the process is out of descriptors).</summary>
    NoThread,
}
