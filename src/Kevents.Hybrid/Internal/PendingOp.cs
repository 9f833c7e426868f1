using System.Runtime.ExceptionServices;

namespace Kevents.Hybrid.Internal;

// One piece of blocking work handed to a cache-miss thread: the rest of a threadlet after a primitive said EAGAIN,
// or a whole threadlet routed straight to a thread.
//
// Protocol. State starts Idle. The caller's token is registered while the op is still Idle, before it is queued,
// so no worker can have started it yet and the registration always belongs to this use of the op. Under its group's
// lock the op moves Idle -> Queued and enters the queue; a token cancelled before that moves it Idle -> Cancelled
// instead and the submitting loop thread refuses it. Once Queued, exactly one of two parties moves it on, by CAS:
//   a worker (Queued -> Running): it drops the registration, runs the blocking call, then resumes the threadlet on
//   its own thread;
//   cancellation or shutdown (Queued -> Cancelled): the worker will skip it, and the threadlet resumes with an
//   OperationCanceledException (on the loop when it can, else on the .NET thread pool).
// Running work is never interrupted; it observes the threadlet's token between and inside blocking calls. An op is
// recycled only when its registration was removed before any callback could run, so a late cancel of an old token
// never reaches the op's next use.
internal abstract class PendingOp
{
    private const int StateIdle = 0;
    private const int StateQueued = 1;
    private const int StateRunning = 2;
    private const int StateCancelled = 3;

    private int _state;
    private Action? _continuation;
    private CancellationTokenRegistration _cancellation;
    private bool _registered;
    private bool _recyclable;

    protected PendingOp(Threadlet owner, WorkClass workClass)
    {
        Owner = owner;
        WorkClass = workClass;
    }

    public Threadlet Owner { get; }

    public WorkClass WorkClass { get; private set; }

    /// <summary>Changes on every reuse, so a stale <see cref="ThreadletOperation{T}"/> cannot read a later result.</summary>
    public short Version { get; private set; }

    /// <summary>
    /// True once a worker claimed the op and no cancellation callback can still run for it: after its result is
    /// read, nothing else refers to it and it may be reused.
    /// </summary>
    protected bool IsRecyclable => _recyclable;

    /// <summary>Makes a finished op ready to be queued again, as new.</summary>
    protected void ResetForReuse(WorkClass workClass)
    {
        _state = StateIdle;
        _continuation = null;
        _cancellation = default;
        _registered = false;
        _recyclable = false;
        Error = null;
        QueuedAt = 0;
        WorkClass = workClass;
        Version++;
    }

    /// <summary>The timestamp (runtime clock) at which the work was queued, for the queued-time metric.</summary>
    public long QueuedAt { get; set; }

    /// <summary>The failure the awaiting code sees, if any.</summary>
    protected Exception? Error { get; set; }

    /// <summary>What the work is, for shutdown reports: "read fd 7".</summary>
    public abstract string Describe();

    /// <summary>Runs the blocking call on a cache-miss thread, storing its result or failure.</summary>
    protected abstract void Execute();

    /// <summary>Hands the work to the pool; <paramref name="continuation"/> resumes the threadlet afterwards.</summary>
    public void Submit(Action continuation)
    {
        _continuation = continuation;
        Owner.Runtime.Submit(this);
    }

    /// <summary>
    /// Loop thread, before the op is queued: lets <paramref name="token"/> take the op out of line. Registering first
    /// means no worker can have claimed the op yet, so the registration cannot outlive this use of it.
    /// </summary>
    /// <remarks>
    /// Only the caller's token needs a registration: shutdown cancels everything queued by itself
    /// (<see cref="WorkerGroup.StopAndCancelQueued"/>), so the common case (no caller token) registers nothing.
    /// </remarks>
    public void WatchCancellation(CancellationToken token)
    {
        if (token.CanBeCanceled)
        {
            _cancellation = token.UnsafeRegister(static (state, token) => ((PendingOp)state!).TryCancel(new OperationCanceledException(token)), this);
            _registered = true;
        }
    }

    /// <summary>Under the group's lock: the op enters the queue. False when its token was cancelled first.</summary>
    public bool TryMarkQueued() => Interlocked.CompareExchange(ref _state, StateQueued, StateIdle) == StateIdle;

    /// <summary>The op will not run (refused or cancelled): its token no longer needs to reach it.</summary>
    private void DropRegistration()
    {
        if (_registered)
        {
            // Unregister, not Dispose: this may run inside the callback itself.
            _cancellation.Unregister();
        }
    }

    /// <summary>Worker side: claims the op. False when it was cancelled while queued.</summary>
    public bool TryStart()
    {
        if (Interlocked.CompareExchange(ref _state, StateRunning, StateQueued) != StateQueued)
        {
            return false;
        }
        // Unregister (not Dispose): a callback racing with us loses the CAS above and returns at once. Such a
        // callback may still be on its way, though, so the op is reused only when none can run any more.
        _recyclable = !_registered || _cancellation.Unregister();
        return true;
    }

    /// <summary>Worker side: runs the blocking call and the rest of the threadlet on this thread.</summary>
    public void Run()
    {
        if (Owner.IsCancellationRequested)
        {
            Error = new OperationCanceledException(Owner.CancellationToken);
        }
        else
        {
            try
            {
                Execute();
            }
            catch (Exception ex)
            {
                Error = ex;
            }
        }
        Resume();
    }

    /// <summary>Continues the threadlet where it awaited this op, on the calling thread.</summary>
    protected virtual void Resume() => _continuation!();

    /// <summary>
    /// Takes the op out of line before a worker starts it. False when a worker already has it. An op not queued yet is
    /// only marked: the loop thread that is submitting it sees the mark and refuses it (see <see cref="TryMarkQueued"/>).
    /// </summary>
    public bool TryCancel(Exception reason)
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == StateIdle)
            {
                if (Interlocked.CompareExchange(ref _state, StateCancelled, StateIdle) == StateIdle)
                {
                    return true;
                }
                continue;
            }
            if (state != StateQueued || Interlocked.CompareExchange(ref _state, StateCancelled, StateQueued) != StateQueued)
            {
                return false;
            }
            Error = reason;
            DropRegistration();
            Owner.Runtime.OnCancelledWhileQueued(this);
            ResumeAfterCancel();
            return true;
        }
    }

    /// <summary>Resumes a threadlet whose op never ran: back on the loop, which is where it was suspended.</summary>
    protected virtual void ResumeAfterCancel()
    {
        Action continuation = _continuation!;
        if (!Owner.Runtime.TryPostToLoop(continuation))
        {
            ThreadPool.UnsafeQueueUserWorkItem(static c => c(), continuation, preferLocal: false);
        }
    }

    /// <summary>Resumes a threadlet whose op was refused (queue full): on the loop, never inside the await itself.</summary>
    public void Refuse(Exception reason)
    {
        DropRegistration();
        Error = reason;
        ResumeAfterCancel();
    }

    protected void ThrowIfFailed()
    {
        if (Error is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }
}

/// <summary>A pending op that produces a <typeparamref name="T"/>.</summary>
internal abstract class PendingOp<T> : PendingOp
{
    protected PendingOp(Threadlet owner, WorkClass workClass) : base(owner, workClass)
    {
    }

    protected T? Result { get; set; }

    public T GetResult(short version)
    {
        if (version != Version)
        {
            throw new InvalidOperationException("A threadlet operation was awaited more than once; await each one once, immediately.");
        }
        Exception? error = Error;
        T result = Result!;
        if (IsRecyclable)
        {
            Result = default;
            Recycle();
        }
        if (error is not null)
        {
            ExceptionDispatchInfo.Throw(error);
        }
        return result;
    }

    /// <summary>Called once the result was read and nothing refers to the op any more; may keep it for reuse.</summary>
    protected virtual void Recycle()
    {
    }
}
