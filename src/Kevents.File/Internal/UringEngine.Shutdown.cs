using System.Diagnostics;
using Kevents.Native;

namespace Kevents.File.Internal;

// Shutdown: the loop is being disposed and will never dispatch again. Before the ring goes, every operation must
// complete, because until its CQE is reaped the kernel may still write into its buffer, and an open may still
// produce a descriptor that only this engine would know to close. So: fail what never reached the kernel, submit
// what is queued, cancel everything in flight, and reap (waiting on the eventfd with poll) until nothing is left or
// ShutdownTimeout passes. Only then is the ring disposed.
internal sealed partial class UringEngine
{
    public override void Shutdown()
    {
        if (_shutDown)
        {
            return;
        }
        _shutDown = true;
        CompleteUnstarted();

        while (_backlog.Count > 0)
        {
            AioOperation op = _backlog.Dequeue();
            _inFlight.Remove(op.Id);
            op.Complete(-Errno.ECANCELED, shuttingDown: true);
        }
        // Every operation in flight gets a cancel, however small the ring: those that do not fit (the SQ is full, or
        // the kernel answers EBUSY until completions are reaped) are prepared on a later round, after a submission or
        // a reap made room. A cancel sent twice is harmless (the second finds nothing: ENOENT/EALREADY).
        _cancelBacklog.Clear();
        var needCancel = new Queue<ulong>(_inFlight.Keys);
        PrepareCancels(needCancel);
        SubmitNow();

        var clock = Stopwatch.StartNew();
        while (_inFlight.Count > 0 && clock.Elapsed < _options.ShutdownTimeout)
        {
            bool any = false;
            while (_ring.TryReap(out IoUringCompletion completion))
            {
                any = true;
                Dispatch(completion, shuttingDown: true);
            }
            if (_inFlight.Count == 0)
            {
                break;
            }
            PrepareCancels(needCancel);
            // Cancels that did not fit before, and anything still queued, go out now.
            SubmitNow();
            if (!any)
            {
                NativeFile.WaitReady(_ring.CompletionEventFd, write: false, timeoutMs: 20);
                EventFd.Drain(_ring.CompletionEventFd);
            }
        }

        if (_inFlight.Count > 0)
        {
            // Their buffers stay pinned on purpose: the kernel might still write to them while it tears the ring down.
            Log.OperationsAbandoned(_logger, Loop.Name, _inFlight.Count, _options.ShutdownTimeout);
        }

        try
        {
            Loop.Unregister((ulong)_ring.CompletionEventFd, KeventFilter.Read);
        }
        catch (ObjectDisposedException)
        {
        }
        _ring.Dispose();
    }

    /// <summary>Prepares cancels for the ids in <paramref name="targets"/> still in flight, until the ring has no room.</summary>
    private void PrepareCancels(Queue<ulong> targets)
    {
        while (targets.Count > 0)
        {
            ulong id = targets.Peek();
            if (!_inFlight.ContainsKey(id) || _ring.PrepareCancel(id, id | CancelTag))
            {
                targets.Dequeue();
                continue;
            }
            // The SQ is full: send it. If the kernel is busy, or that made no room, try again after the next reap.
            if (SubmitNow() < 0 || !_ring.PrepareCancel(id, id | CancelTag))
            {
                return;
            }
            targets.Dequeue();
        }
    }
}
