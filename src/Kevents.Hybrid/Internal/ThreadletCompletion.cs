using System.Threading.Tasks.Sources;

namespace Kevents.Hybrid.Internal;

// Where a threadlet's outcome goes once it did not complete inline.
//
// Protocol. The body finishes on some thread (a cache-miss thread usually) and calls Finish once. Finish hands the
// outcome to the loop as a Threadlet kevent through the completion ring; the loop's dispatcher brings it back to
// Deliver on the loop thread. When the loop can no longer dispatch (shut down), Finish or the runtime's shutdown calls
// Deliver directly. _delivered makes Deliver run exactly once whichever path gets there first.
internal abstract class ThreadletCompletion
{
    private int _finished;
    private int _delivered;

    protected ThreadletCompletion(Threadlet threadlet) => Threadlet = threadlet;

    public Threadlet Threadlet { get; }

    public ulong Id => Threadlet.Id;

    public ThreadletRuntime Runtime => Threadlet.Runtime;

    /// <summary>The failure, if the body failed or never ran.</summary>
    public Exception? Error { get; protected set; }

    /// <summary>True once the body's outcome is stored.</summary>
    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    /// <summary>Runs the body on the calling thread (loop or cache-miss thread) and arranges for Finish.</summary>
    public abstract void StartBody();

    /// <summary>Makes a delivered completion ready to carry its threadlet again.</summary>
    protected void ResetBase()
    {
        _finished = 0;
        _delivered = 0;
        Error = null;
    }

    /// <summary>Completes without running the body (cancelled or refused before it started).</summary>
    public void Fail(Exception error)
    {
        Error = error;
        Finish();
    }

    /// <summary>Stores nothing more; sends the outcome toward the awaiter or the kevent consumer. Once.</summary>
    protected void Finish()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }
        Runtime.OnFinished(this);
    }

    /// <summary>The completion kevent for this outcome.</summary>
    public abstract Kevent ToKevent();

    /// <summary>True for the kevent form, whose kevent goes to the caller's registration rather than an awaiter.</summary>
    public abstract bool IsKeventForm { get; }

    /// <summary>
    /// True when the outcome must reach the loop thread for as long as the loop can still dispatch, even after the
    /// runtime shut down; only once the loop is being disposed is it delivered wherever it is (see
    /// <see cref="CallbackCompletion"/>).
    /// </summary>
    public virtual bool DeliversOnLoopUntilDisposed => false;

    /// <summary>How long the runtime's shutdown waits for this threadlet at least (beyond its own timeout if longer).</summary>
    public virtual TimeSpan ShutdownAllowance => TimeSpan.Zero;

    /// <summary>Hands the outcome to the awaiter. Exactly once, on the loop thread or at shutdown; true for that once.</summary>
    public bool Deliver()
    {
        if (Interlocked.Exchange(ref _delivered, 1) != 0)
        {
            return false;
        }
        try
        {
            DeliverCore();
        }
        catch (ObjectDisposedException)
        {
            // The awaiter waits on a loop that has been disposed: its continuation can never run there, and the
            // loop's SynchronizationContext says so by throwing. Nothing is left to deliver to.
        }
        return true;
    }

    /// <summary>
    /// The loop delivered this completion and is done with it (called after <see cref="Deliver"/> returned, on the
    /// loop thread). Must not touch anything a new use could have changed.
    /// </summary>
    public virtual void OnDeliveredOnLoop()
    {
    }

    protected abstract void DeliverCore();

    protected Kevent ResultKevent(long data, ulong userData)
    {
        if (Error is { } error)
        {
            return new Kevent(Id, KeventFilter.Threadlet, KeventFlags.Error, 0, -FileErrors.ErrnoOf(error), userData);
        }
        return new Kevent(Id, KeventFilter.Threadlet, KeventFlags.None, 0, data, userData);
    }
}

/// <summary>
/// Runs a body that produces a <typeparamref name="T"/> and finishes with its outcome: the part every form (awaitable,
/// kevent, callback) shares.
/// </summary>
internal abstract class BodyCompletion<T> : ThreadletCompletion
{
    private readonly Action _onBodyDone;
    private ValueTask<T> _bodyTask;

    protected BodyCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<T>>? body) : base(threadlet)
    {
        Body = body;
        _onBodyDone = OnBodyDone;
    }

    protected Func<Threadlet, ValueTask<T>>? Body { get; set; }

    /// <summary>The body's result, once it finished without failing.</summary>
    protected T? Result { get; set; }

    public override void StartBody()
    {
        ValueTask<T> task;
        try
        {
            task = Body!(Threadlet);
        }
        catch (Exception ex)
        {
            Fail(ex);
            return;
        }
        Attach(task);
    }

    /// <summary>Takes over a body that was started inline and is now suspended.</summary>
    public void Attach(ValueTask<T> task)
    {
        _bodyTask = task;
        if (task.IsCompleted)
        {
            OnBodyDone();
            return;
        }
        task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onBodyDone);
    }

    private void OnBodyDone()
    {
        try
        {
            Result = _bodyTask.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Error = ex;
        }
        _bodyTask = default;
        Body = null;
        Finish();
    }
}

/// <summary>The awaitable form: the outcome completes the ValueTask returned by <c>loop.Threadlet(...)</c>.</summary>
/// <remarks>
/// Resuming. An awaiter on the loop thread (the loop's SynchronizationContext is current) is resumed directly by the
/// Threadlet kevent's handler, in the same dispatch: no second trip through the posted queue, no per-await tuple.
/// Everyone else resumes as a ManualResetValueTaskSourceCore with RunContinuationsAsynchronously would resume them
/// (their own context, else the thread pool), never inside the dispatcher.
/// Reuse. The completion travels with its <see cref="Threadlet"/> handle and both return to the runtime's pool once
/// the loop delivered it and the awaiter took the result, whichever comes last (see <see cref="Release"/>).
/// </remarks>
internal sealed class AwaitableCompletion<T> : BodyCompletion<T>, IValueTaskSource<T>
{
    private static readonly Action<object?> s_resumeOnLoop = static state => ((AwaitableCompletion<T>)state!).ResumeOnLoop();
    private static readonly SendOrPostCallback s_resumePosted = static state => ((AwaitableCompletion<T>)state!).InvokeLoopContinuation();

    private ManualResetValueTaskSourceCore<T> _core;
    private Action<object?>? _loopContinuation;
    private object? _loopState;
    private volatile bool _resumeOnLoop;
    private int _resultTaken;
    private int _holds;

    private AwaitableCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<T>>? body) : base(threadlet, body)
    {
        _core.RunContinuationsAsynchronously = true;
        _holds = 2;
    }

    /// <summary>A completion for <paramref name="threadlet"/>: the one it carried last time when it fits, else a new one.</summary>
    public static AwaitableCompletion<T> For(Threadlet threadlet, Func<Threadlet, ValueTask<T>>? body)
    {
        if (threadlet.SpareCompletion is AwaitableCompletion<T> spare)
        {
            threadlet.SpareCompletion = null;
            spare.ResetBase();
            spare._core.Reset();
            spare._core.RunContinuationsAsynchronously = true;
            spare.Body = body;
            spare.Result = default;
            spare._resumeOnLoop = false;
            spare._loopContinuation = null;
            spare._loopState = null;
            spare._resultTaken = 0;
            spare._holds = 2;
            return spare;
        }
        return new AwaitableCompletion<T>(threadlet, body);
    }

    public ValueTask<T> Task => new(this, _core.Version);

    public override Kevent ToKevent() => ResultKevent(0, 0);

    public override bool IsKeventForm => false;

    public override void OnDeliveredOnLoop() => Release();

    protected override void DeliverCore()
    {
        // Inline only for an awaiter that asked for the loop and is already registered; the core then calls
        // ResumeOnLoop synchronously. Anyone else keeps the asynchronous resume.
        _core.RunContinuationsAsynchronously = !_resumeOnLoop;
        if (Error is { } error)
        {
            _core.SetException(error);
        }
        else
        {
            _core.SetResult(Result!);
        }
    }

    private void ResumeOnLoop()
    {
        if (Runtime.Loop.IsOnLoopThread)
        {
            InvokeLoopContinuation();
            return;
        }
        // Completed off the loop (shutdown, or the awaiter registered after the result was set): go home through the
        // loop's context, which drops the continuation if the loop is gone, as before.
        Runtime.Loop.SynchronizationContext.Post(s_resumePosted, this);
    }

    private void InvokeLoopContinuation() => _loopContinuation!(_loopState);

    /// <summary>
    /// Drops one of the two holds on this completion (the loop's, after delivery; the awaiter's, after GetResult).
    /// The last one returns the threadlet, with this completion attached, to the runtime's pool, on the loop thread
    /// only; elsewhere the pair is simply left to the GC.
    /// </summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _holds) == 0 && Runtime.Loop.IsOnLoopThread)
        {
            Runtime.ReturnAfterOffload(Threadlet, this);
        }
    }

    T IValueTaskSource<T>.GetResult(short token)
    {
        // Only a completed, current use gives up the awaiter's hold (a stale token or an early read throws below).
        bool taking = token == _core.Version && _core.GetStatus(token) != ValueTaskSourceStatus.Pending;
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (taking && Interlocked.Exchange(ref _resultTaken, 1) == 0)
            {
                Release();
            }
        }
    }

    ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0 &&
            SynchronizationContext.Current is { } context && ReferenceEquals(context, Runtime.Loop.SynchronizationContext))
        {
            _loopContinuation = continuation;
            _loopState = state;
            _resumeOnLoop = true;
            _core.OnCompleted(s_resumeOnLoop, this, token, flags & ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext);
            return;
        }
        _core.OnCompleted(continuation, state, token, flags);
    }
}

/// <summary>The kevent form: the outcome is a Threadlet kevent for the caller's registration (handler or Poll).</summary>
internal sealed class KeventCompletion : BodyCompletion<long>
{
    private readonly ulong _userData;

    public KeventCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<long>> body, ulong userData) : base(threadlet, body) =>
        _userData = userData;

    public override Kevent ToKevent() => ResultKevent(Result, _userData);

    public override bool IsKeventForm => true;

    // The kevent itself is the delivery: the caller's registration receives it.
    protected override void DeliverCore()
    {
    }
}

/// <summary>
/// The form another Kevents layer uses (AsyncFile's threadlet engine): the outcome goes to a callback instead of an
/// awaiter. The callback runs on the loop thread for as long as the loop can dispatch, even after the runtime shut
/// down; once the loop is being disposed it runs wherever the outcome is (the disposing thread, or the cache-miss
/// thread whose call returned after shutdown stopped waiting), told so by its last argument. A threadlet still in its
/// system call is therefore never completed early: what its call uses stays held until the call returns.
/// </summary>
internal sealed class CallbackCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<int>> body, Action<int, Exception?, bool> onDone,
    TimeSpan shutdownAllowance) : BodyCompletion<int>(threadlet, body)
{
    public override Kevent ToKevent() => ResultKevent(0, 0);

    public override bool IsKeventForm => false;

    public override bool DeliversOnLoopUntilDisposed => true;

    public override TimeSpan ShutdownAllowance => shutdownAllowance;

    protected override void DeliverCore() => onDone(Result, Error, Runtime.IsLoopDisposing);
}
