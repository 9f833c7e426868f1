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
        // The caller's token is registered before the op is queued: queued, a worker may take it at once.
        op.WatchCancellation(owner.CallerToken);
        WorkerGroup group = Group(op.WorkClass);
        EnqueueResult result = group.TryEnqueue(op);
        if (result == EnqueueResult.Queued)
        {
            AfterQueuedForTest?.Invoke(op);
            return;
        }
        if (result == EnqueueResult.Cancelled)
        {
            Interlocked.Increment(ref _metrics.Cancelled);
            op.Refuse(new OperationCanceledException(owner.CallerToken));
            return;
        }
        _metrics.Rejected++;
        int limit = op.WorkClass == WorkClass.Short ? _options.MaxQueuedShort : _options.MaxQueuedLong;
        op.Refuse(result == EnqueueResult.Stopping || IsShuttingDown
            ? new OperationCanceledException($"The loop '{Loop.Name}' is shutting down.", ShutdownToken)
            : new ThreadletQueueFullException(op.WorkClass, limit));
    }

    /// <summary>Test hook: runs on the loop thread right after an op entered its queue.</summary>
    internal Action<PendingOp>? AfterQueuedForTest { get; set; }

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
