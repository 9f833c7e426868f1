namespace Kevents.File.Internal;

/// <summary>
/// Runs <see cref="AioOperation"/>s for one loop. Every started operation completes exactly once: on the loop thread,
/// or in the loop's shutdown hook when the loop is disposed first.
/// </summary>
internal abstract class AioEngine
{
    private readonly Action<object?> _startOnLoop;
    private readonly Action<object?> _cancelOnLoop;

    protected AioEngine(EventLoop loop)
    {
        Loop = loop;
        _startOnLoop = state => StartOnLoop((AioOperation)state!);
        _cancelOnLoop = state => CancelOnLoop((AioOperation)state!);
    }

    public EventLoop Loop { get; }

    public abstract AsyncFileEngine Kind { get; }

    /// <summary>Starts <paramref name="op"/>. From another thread (or before the loop runs) it is posted to the loop.</summary>
    public void Start(AioOperation op)
    {
        op.Acquire();
        if (Loop.IsOnLoopThread)
        {
            StartOnLoop(op);
        }
        else
        {
            Loop.Post(_startOnLoop, op);
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
            // The loop is gone; its shutdown hook has completed (or is completing) every operation.
        }
    }

    protected abstract void StartOnLoop(AioOperation op);

    protected abstract void CancelOnLoop(AioOperation op);
}
