using Kevents.Native;

namespace Kevents.File.Internal;

/// <summary>
/// Runs <see cref="AioOperation"/>s for one loop. Every started operation completes exactly once: on the loop thread,
/// or in the engine's shutdown when the loop is disposed first.
/// </summary>
internal abstract class AioEngine
{
    private readonly Action<object?> _startOnLoop;
    private readonly Action<object?> _cancelOnLoop;

    // Operations whose start is posted to the loop and has not run yet. The loop may be disposed before it runs them
    // (dropping posted work); the engine's shutdown then completes them here, so each still completes exactly once and
    // releases its pin and descriptor reference. Guarded by itself; _closed is set by the hook.
    private readonly HashSet<AioOperation> _posted = new();
    private bool _closed;

    // Completed AsyncFile reads and writes, handed out again so a read allocates nothing in steady state. Loop thread
    // only: renting elsewhere allocates, and AwaitableOperation gives back only on the loop thread.
    private const int MaxPooled = 1024;
    private readonly Stack<AwaitableOperation> _pool = new();

    protected AioEngine(EventLoop loop)
    {
        Loop = loop;
        _startOnLoop = state => StartPosted((AioOperation)state!);
        _cancelOnLoop = state => CancelOnLoop((AioOperation)state!);
    }

    public EventLoop Loop { get; }

    public abstract AsyncFileEngine Kind { get; }

    /// <summary>An awaitable operation from the pool (on the loop thread), or a new poolable one.</summary>
    public AwaitableOperation RentOperation() =>
        Loop.IsOnLoopThread && _pool.TryPop(out AwaitableOperation? op) ? op : new AwaitableOperation(Loop, this);

    /// <summary>Takes back a completed, reset operation. Loop thread.</summary>
    public void ReturnOperation(AwaitableOperation op)
    {
        if (Loop.IsOnLoopThread && _pool.Count < MaxPooled)
        {
            _pool.Push(op);
        }
    }

    /// <summary>Operations waiting in the pool (for tests).</summary>
    internal int PooledOperations => _pool.Count;

    /// <summary>
    /// Starts <paramref name="op"/>. From another thread (or before the loop runs) it is posted to the loop; on a loop
    /// that is disposed (or is disposed before it runs the start) it completes with "the loop was disposed".
    /// </summary>
    public void Start(AioOperation op)
    {
        op.Acquire();
        if (Loop.IsOnLoopThread)
        {
            StartOnLoop(op);
            return;
        }
        lock (_posted)
        {
            if (!_closed)
            {
                _posted.Add(op);
                try
                {
                    Loop.Post(_startOnLoop, op);
                    return;
                }
                catch (ObjectDisposedException)
                {
                    // Disposed before its shutdown ran for this engine (or the engine came after it).
                    _posted.Remove(op);
                }
            }
        }
        op.Complete(-Errno.ECANCELED, shuttingDown: true);
    }

    private void StartPosted(AioOperation op)
    {
        lock (_posted)
        {
            if (!_posted.Remove(op))
            {
                return; // completed by the engine's shutdown already
            }
        }
        StartOnLoop(op);
    }

    /// <summary>
    /// Runs once when the loop is disposed (from <see cref="LoopFiles"/>, the loop's feature): completes or hands over
    /// every operation still in flight, so none hangs.
    /// </summary>
    public abstract void Shutdown();

    /// <summary>
    /// Shutdown, first step: no more posted starts; those still waiting complete as "the loop was disposed". The
    /// loop has stopped, so none of them can be running.
    /// </summary>
    protected void CompleteUnstarted()
    {
        AioOperation[] waiting;
        lock (_posted)
        {
            _closed = true;
            waiting = [.. _posted];
            _posted.Clear();
        }
        foreach (AioOperation op in waiting)
        {
            op.Complete(-Errno.ECANCELED, shuttingDown: true);
        }
    }

    /// <summary>Asks for <paramref name="op"/> to be cancelled; harmless when it already completed. Any thread.</summary>
    public void Cancel(AioOperation op)
    {
        if (Loop.IsOnLoopThread)
        {
            CancelOnLoop(op);
            return;
        }
        try
        {
            Loop.Post(_cancelOnLoop, op);
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone; its engines' shutdown has completed (or is completing) every operation.
        }
    }

    protected abstract void StartOnLoop(AioOperation op);

    protected abstract void CancelOnLoop(AioOperation op);
}
