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
    private void Shutdown()
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
        _cancelBacklog.Clear();

        foreach (ulong id in _inFlight.Keys.ToArray())
        {
            if (!TryPrepareCancel(id))
            {
                break; // the kernel is busy; whatever is left completes on its own or is reported below.
            }
        }
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
            if (!any)
            {
                NativeFile.WaitReady(_ring.CompletionEventFd, write: false, timeoutMs: 20);
                EventFd.Drain(_ring.CompletionEventFd);
            }
            // Cancels that did not fit the first time, and anything still queued, go out now.
            SubmitNow();
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
}
