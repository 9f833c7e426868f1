using System.Threading.Tasks.Sources;

namespace Kevents.Hybrid.Internal;

// Where a threadlet's outcome goes once it did not complete inline.
//
// Protocol. The body finishes on some thread (a cache-miss thread usually) and calls Finish once. Finish hands the
// outcome to the loop as a Threadlet kevent through the completion ring; the loop's dispatcher brings it back to
// Deliver on the loop thread. When the loop can no longer dispatch (shut down), Finish or the shutdown hook calls
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

    /// <summary>Hands the outcome to the awaiter. Exactly once, on the loop thread or at shutdown.</summary>
    public void Deliver()
    {
        if (Interlocked.Exchange(ref _delivered, 1) != 0)
        {
            return;
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

/// <summary>The awaitable form: the outcome completes the ValueTask returned by <c>loop.Threadlet(...)</c>.</summary>
internal sealed class AwaitableCompletion<T> : ThreadletCompletion, IValueTaskSource<T>
{
    private readonly Func<Threadlet, ValueTask<T>>? _body;
    private readonly Action _onBodyDone;
    private ManualResetValueTaskSourceCore<T> _core;
    private ValueTask<T> _bodyTask;
    private T? _result;

    public AwaitableCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<T>>? body) : base(threadlet)
    {
        _body = body;
        _onBodyDone = OnBodyDone;
        // Awaiters resume on their own context (the loop's, for code on the loop) or the thread pool, never inside
        // the dispatcher's call to Deliver.
        _core.RunContinuationsAsynchronously = true;
    }

    public ValueTask<T> Task => new(this, _core.Version);

    public override void StartBody()
    {
        ValueTask<T> task;
        try
        {
            task = _body!(Threadlet);
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
            _result = _bodyTask.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Error = ex;
        }
        _bodyTask = default;
        Finish();
    }

    public override Kevent ToKevent() => ResultKevent(0, 0);

    public override bool IsKeventForm => false;

    protected override void DeliverCore()
    {
        if (Error is { } error)
        {
            _core.SetException(error);
        }
        else
        {
            _core.SetResult(_result!);
        }
    }

    T IValueTaskSource<T>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<T>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>The kevent form: the outcome is a Threadlet kevent for the caller's registration (handler or Poll).</summary>
internal sealed class KeventCompletion : ThreadletCompletion
{
    private readonly Func<Threadlet, ValueTask<long>> _body;
    private readonly ulong _userData;
    private readonly Action _onBodyDone;
    private ValueTask<long> _bodyTask;
    private long _result;

    public KeventCompletion(Threadlet threadlet, Func<Threadlet, ValueTask<long>> body, ulong userData) : base(threadlet)
    {
        _body = body;
        _userData = userData;
        _onBodyDone = OnBodyDone;
    }

    public override void StartBody()
    {
        try
        {
            _bodyTask = _body(Threadlet);
        }
        catch (Exception ex)
        {
            Fail(ex);
            return;
        }
        if (_bodyTask.IsCompleted)
        {
            OnBodyDone();
            return;
        }
        _bodyTask.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onBodyDone);
    }

    private void OnBodyDone()
    {
        try
        {
            _result = _bodyTask.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Error = ex;
        }
        _bodyTask = default;
        Finish();
    }

    public override Kevent ToKevent() => ResultKevent(_result, _userData);

    public override bool IsKeventForm => true;

    // The kevent itself is the delivery: the caller's registration receives it.
    protected override void DeliverCore()
    {
    }
}
