using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// Handing blocking work to the cache-miss threads, and what the threads report back.
public sealed partial class ThreadletRuntime
{
    /// <summary>Loop thread: queues <paramref name="op"/> for a thread of its class, or refuses it.</summary>
    internal void Submit(PendingOp op)
    {
        Threadlet owner = op.Owner;
        if (IsShuttingDown)
        {
            op.Refuse(new OperationCanceledException($"The loop '{Loop.Name}' is shutting down; the threadlet cannot leave the loop.", ShutdownToken));
            return;
        }
        long now = Now();
        if (!owner.Offloaded)
        {
            owner.MarkOffloaded(now);
            _metrics.Offloaded++;
        }
        op.QueuedAt = now;
        WorkerGroup group = Group(op.WorkClass);
        if (!group.TryEnqueue(op))
        {
            _metrics.Rejected++;
            int limit = op.WorkClass == WorkClass.Short ? _options.MaxQueuedShort : _options.MaxQueuedLong;
            op.Refuse(IsShuttingDown
                ? new OperationCanceledException($"The loop '{Loop.Name}' is shutting down.", ShutdownToken)
                : new ThreadletQueueFullException(op.WorkClass, limit));
            return;
        }
        op.WatchCancellation(owner.CallerToken);
    }

    internal void OnCancelledWhileQueued(PendingOp op)
    {
        Interlocked.Increment(ref _metrics.Cancelled);
        Group(op.WorkClass).OnCancelled();
    }

    internal void RecordQueueTime(PendingOp op) =>
        _metrics.RecordQueueTime(op.WorkClass, _time.GetElapsedTime(op.QueuedAt));

    internal void OnWorkerFault(Exception exception) =>
        Log.ThreadletFailed(Logger, 0, "cache-miss thread", exception.GetType().Name, exception);
}
