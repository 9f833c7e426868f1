using Kevents.Hybrid.Internal;
using System.Threading.Tasks.Sources;

namespace Kevents.File.Internal;

// The awaitable form: the result completes a ValueTask.
//
// Where the awaiting code resumes. Code that awaits on the loop thread (with the loop's SynchronizationContext or
// none) resumes inline, inside the loop's handling of the completion: no post, no extra turn, which is what lets a
// read loop keep the ring busy. Code awaiting from elsewhere resumes on its own context or the thread pool, never on
// the loop. At shutdown everything resumes on the thread pool: the loop can no longer run it.
internal sealed class AwaitableOperation : AioOperation, IValueTaskSource<int>, IValueTaskSource
{
    private readonly EventLoop _loop;
    private ManualResetValueTaskSourceCore<int> _core;
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _token;

    public AwaitableOperation(EventLoop loop) => _loop = loop;

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
        _cancellation = token.UnsafeRegister(static (state, _) =>
        {
            var (engine, op) = ((AioEngine, AioOperation))state!;
            engine.Cancel(op);
        }, (engine, (AioOperation)this));
    }

    protected override void OnCompleted(int result, bool shuttingDown)
    {
        // Unregister, not Dispose: a callback racing on another thread only posts a cancel, which finds the operation done.
        _cancellation.Unregister();
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

    public int GetResult(short token) => _core.GetResult(token);

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
