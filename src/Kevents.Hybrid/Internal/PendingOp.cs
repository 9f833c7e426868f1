using System.Runtime.ExceptionServices;

namespace Kevents.Hybrid.Internal;

// One piece of blocking work handed to a cache-miss thread: the rest of a threadlet after a primitive said EAGAIN,
// or a whole threadlet routed straight to a thread.
//
// Protocol. State starts Queued when the work enters a queue. Exactly one of two parties moves it on, by CAS:
//   a worker (Queued -> Running): it runs the blocking call, then resumes the threadlet on its own thread;
//   cancellation or shutdown (Queued -> Cancelled): the worker will skip it, and the threadlet resumes with an
//   OperationCanceledException (on the loop when it can, else on the .NET thread pool).
// Running work is never interrupted; it observes the threadlet's token between and inside blocking calls.
internal abstract class PendingOp
{
    private const int StateQueued = 0;
    private const int StateRunning = 1;
    private const int StateCancelled = 2;

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
        _state = StateQueued;
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

    /// <summary>Called by the pool once the op is queued: cancellation may now take it out of line.</summary>
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

    /// <summary>Takes the op out of line before a worker starts it. False when a worker already has it.</summary>
    public bool TryCancel(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _state, StateCancelled, StateQueued) != StateQueued)
        {
            return false;
        }
        Error = reason;
        Owner.Runtime.OnCancelledWhileQueued(this);
        ResumeAfterCancel();
        return true;
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
