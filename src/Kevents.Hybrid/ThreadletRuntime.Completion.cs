using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// The way back: a threadlet that did not complete inline finishes somewhere, and its outcome returns to the loop as a
// Threadlet kevent through the loop's completion ring and dispatcher.
public sealed partial class ThreadletRuntime
{
    private ManualResetEventSlim? _shutdownProgress;

    private void Track(ThreadletCompletion completion)
    {
        lock (_inflight)
        {
            _inflight[completion.Id] = completion;
        }
    }

    private bool TryFindInflight(ulong id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ThreadletCompletion? completion)
    {
        lock (_inflight)
        {
            return _inflight.TryGetValue(id, out completion);
        }
    }

    /// <summary>A snapshot of the completions not delivered yet (shutdown only).</summary>
    private ThreadletCompletion[] InflightSnapshot()
    {
        lock (_inflight)
        {
            return [.. _inflight.Values];
        }
    }

    /// <summary>Called once per completion, on whichever thread the body finished.</summary>
    internal void OnFinished(ThreadletCompletion completion)
    {
        if (completion.Error is { } error && completion.IsKeventForm)
        {
            Log.ThreadletFailed(Logger, completion.Id, DescribeKind(completion.Threadlet), error.GetType().Name, error);
        }
        // Most forms stop using the loop when the runtime shuts down; a layer's callback keeps it until it is disposed.
        bool loopDispatches = completion.DeliversOnLoopUntilDisposed ? !IsLoopDisposing : !IsShuttingDown;
        if (!completion.IsKeventForm && Loop.IsOnLoopThread && loopDispatches)
        {
            // Already home: no need to go round the ring.
            DeliverOnLoop(completion);
            return;
        }
        if (loopDispatches)
        {
            try
            {
                Loop.Complete(completion.ToKevent());
                if (completion.IsKeventForm)
                {
                    // The kevent is the delivery; the caller's registration takes it from here.
                    Forget(completion);
                }
                return;
            }
            catch (ObjectDisposedException)
            {
                // The loop is gone: deliver directly below.
            }
        }
        Forget(completion);
        completion.Deliver();
        _shutdownProgress?.Set();
    }

    /// <summary>The loop's handler for Threadlet kevents without a registration: completions of awaited threadlets.</summary>
    private void OnCompletionKevent(in Kevent kevent)
    {
        if (TryFindInflight(kevent.Ident, out ThreadletCompletion? completion))
        {
            DeliverOnLoop(completion);
        }
    }

    private void DeliverOnLoop(ThreadletCompletion completion)
    {
        if (!completion.Threadlet.Offloaded)
        {
            _metrics.Inline++;
        }
        Forget(completion);
        // An awaiter on the loop resumes inside this call (see AwaitableCompletion); afterwards the completion and
        // its threadlet may go back to the pool.
        if (completion.Deliver())
        {
            completion.OnDeliveredOnLoop();
        }
    }

    /// <summary>Loop thread: an offloaded threadlet and its completion are free again; pool them together.</summary>
    internal void ReturnAfterOffload(Threadlet threadlet, ThreadletCompletion completion)
    {
        if (IsShuttingDown)
        {
            // Shutdown walks the in-flight completions from another thread; nothing is reused from here on.
            return;
        }
        threadlet.SpareCompletion = completion;
        Return(threadlet);
    }

    private void Forget(ThreadletCompletion completion)
    {
        lock (_inflight)
        {
            _inflight.Remove(completion.Id);
        }
        completion.Threadlet.ReleaseOffloadedToken();
    }

    /// <summary>Posts to the loop while it can still run the item; false once it is shutting down or gone.</summary>
    internal bool TryPostToLoop(Action action)
    {
        if (IsShuttingDown)
        {
            return false;
        }
        try
        {
            Loop.Post(action);
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static string DescribeKind(Threadlet threadlet) =>
        threadlet.Kind?.Name ?? (threadlet.Body is { } body ? EventLoopThreadletExtensions.Describe(body) : $"threadlet {threadlet.Id}");
}
