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
        if (result == EnqueueResult.NoThread)
        {
            op.Refuse(NoThreadError(op.WorkClass));
            return;
        }
        int limit = op.WorkClass == WorkClass.Short ? _options.MaxQueuedShort : _options.MaxQueuedLong;
        op.Refuse(result == EnqueueResult.Stopping || IsShuttingDown
            ? new OperationCanceledException($"The loop '{Loop.Name}' is shutting down.", ShutdownToken)
            : new ThreadletQueueFullException(op.WorkClass, limit));
    }

    /// <summary>Test hook: runs on the loop thread right after an op entered its queue.</summary>
    internal Action<PendingOp>? AfterQueuedForTest { get; set; }

    // Descriptors a starting thread may need at once (the runtime opens files under /proc and /sys and a pipe), with
    // room for a few starting together; under this the pool does not grow.
    private const int ThreadStartDescriptors = 16;

    /// <summary>Test hook: stands in for the descriptor probe (false: the process is out of descriptors).</summary>
    internal Func<bool>? DescriptorHeadroomForTest { get; set; }

    /// <summary>
    /// Under a group's lock, before a thread starts: false when the process is so close to its descriptor limit that
    /// starting a thread could make the runtime abort the process (it needs descriptors to start one).
    /// </summary>
    internal bool CanStartThread() =>
        DescriptorHeadroomForTest is { } probe ? probe() : Kevents.Native.DescriptorHeadroom.Available(ThreadStartDescriptors);

    internal void OnThreadStartFailed(WorkClass workClass, Exception exception) =>
        Log.ThreadStartFailed(Logger, Loop.Name, workClass.ToString(), exception);

    private IOException NoThreadError(WorkClass workClass) => new(
        $"Loop '{Loop.Name}': no {workClass} cache-miss thread could start for blocking work: the process is out of file descriptors " +
        $"(EMFILE; starting a thread needs a few, and the limit is {Kevents.Native.ProcessLimits.OpenFilesLimit()}). " +
        "Close descriptors (shed connections) or raise RLIMIT_NOFILE; work resumes as soon as descriptors are free.",
        new System.ComponentModel.Win32Exception(Errno.EMFILE));

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
