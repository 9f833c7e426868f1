using Kevents.Hybrid.Internal;
using System.Threading.Tasks.Sources;

namespace Kevents.File.Internal;

// The awaitable form: the result completes a ValueTask.
//
// Where the awaiting code resumes. Code that awaits on the loop thread (with the loop's SynchronizationContext or
// none) resumes inline, inside the loop's handling of the completion: no post, no extra turn, which is what lets a
// read loop keep the ring busy. Code awaiting from elsewhere resumes on its own context or the thread pool, never on
// the loop. At shutdown everything resumes on the thread pool: the loop can no longer run it.
//
// Pooling. Reads and writes of an AsyncFile come from their engine's pool (AioEngine.RentOperation) and go back to it
// when the awaiter takes the result (GetResult), which is the last time anyone may touch this ValueTask (the usual
// ValueTask rule: await it once). An operation goes back only when nothing else can still reach it: taken on the loop
// thread (the pool is the loop's, unsynchronized), completed normally (not in shutdown), and with no cancellation
// callback that may have run, since that callback posts a cancel naming this object and must not find it reused.
internal sealed class AwaitableOperation : AioOperation, IValueTaskSource<int>, IValueTaskSource
{
    private readonly EventLoop _loop;
    private readonly AioEngine? _pool;
    private ManualResetValueTaskSourceCore<int> _core;
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _token;
    private AioEngine? _cancelEngine;
    private bool _recyclable;

    public AwaitableOperation(EventLoop loop) => _loop = loop;

    /// <summary>An operation that goes back to <paramref name="pool"/>'s pool once its result is taken.</summary>
    public AwaitableOperation(EventLoop loop, AioEngine pool)
    {
        _loop = loop;
        _pool = pool;
    }

    public ValueTask<int> Task => new(this, _core.Version);

    public ValueTask VoidTask => new(this, _core.Version);

    /// <summary>The result once completed: a count, a descriptor or 0 (errors throw from GetResult instead).</summary>
    public int Result { get; private set; }

    /// <summary>Arranges for <paramref name="token"/> to cancel the operation through <paramref name="engine"/>.</summary>
    public void WatchCancellation(AioEngine engine, CancellationToken token)
    {
        if (!token.CanBeCanceled)
        {
            return;
        }
        _token = token;
        _cancelEngine = engine;
        _cancellation = token.UnsafeRegister(static (state, _) =>
        {
            var op = (AwaitableOperation)state!;
            op._cancelEngine!.Cancel(op);
        }, this);
    }

    protected override void OnCompleted(int result, bool shuttingDown)
    {
        // Unregister, not Dispose: a callback racing on another thread only posts a cancel, which finds the operation
        // done. When it may have run (Unregister false), the posted cancel names this object: it is never reused.
        bool noCallback = !_token.CanBeCanceled || _cancellation.Unregister();
        _recyclable = _pool is not null && noCallback && !shuttingDown && result >= 0;
        if (shuttingDown)
        {
            _core.RunContinuationsAsynchronously = true;
        }
        if (result >= 0)
        {
            Result = result;
            _core.SetResult(result);
            return;
        }
        Exception error = result == -Errno.ECANCELED && NeverStarted
            ? new ObjectDisposedException(nameof(EventLoop),
                $"The loop '{_loop.Name}' was disposed before the {Describe()} could start; start file operations while the loop runs.")
            : result == -Errno.ECANCELED
            ? new OperationCanceledException(
                shuttingDown ? $"The {Describe()} was cancelled: the loop '{_loop.Name}' shut down." : $"The {Describe()} was cancelled.",
                _token)
            : FileErrors.For(result, Verb(), PathText);
        _core.SetException(error);
    }

    public int GetResult(short token)
    {
        int result = _core.GetResult(token);
        if (_recyclable && _loop.IsOnLoopThread)
        {
            Recycle();
        }
        return result;
    }

    private void Recycle()
    {
        _recyclable = false;
        ResetForReuse();
        _core.Reset();
        _core.RunContinuationsAsynchronously = false;
        _cancellation = default;
        _token = default;
        _cancelEngine = null;
        Result = 0;
        _pool!.ReturnOperation(this);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        if (_loop.IsOnLoopThread && (context is null || context == _loop.SynchronizationContext))
        {
            // Completions are handled on this very thread, so running the continuation there is resuming "on the
            // loop's context" without the round trip through its posted-work queue.
            _core.RunContinuationsAsynchronously = false;
            flags &= ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext;
        }
        else
        {
            _core.RunContinuationsAsynchronously = true;
        }
        _core.OnCompleted(continuation, state, token, flags);
    }

    private string Verb() => Kind switch
    {
        AioKind.Open => "open",
        AioKind.Read => "read",
        AioKind.Write => "write to",
        AioKind.Fsync => "flush",
        AioKind.Stat => "stat",
        _ => "close",
    };

    private string Describe() => PathText is { } path ? $"{Verb()} of '{path}'" : $"{Verb()} operation";
}
