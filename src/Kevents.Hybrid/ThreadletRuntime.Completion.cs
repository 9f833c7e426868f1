using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// The way back: a threadlet that did not complete inline finishes somewhere, and its outcome returns to the loop as a
// Threadlet kevent through the loop's completion ring and dispatcher.
public sealed partial class ThreadletRuntime
{
    private ManualResetEventSlim? _shutdownProgress;

    private void Track(ThreadletCompletion completion) => _inflight[completion.Id] = completion;

    /// <summary>Called once per completion, on whichever thread the body finished.</summary>
    internal void OnFinished(ThreadletCompletion completion)
    {
        if (completion.Error is { } error && completion.IsKeventForm)
        {
            Log.ThreadletFailed(Logger, completion.Id, DescribeKind(completion.Threadlet), error.GetType().Name, error);
        }
        if (!completion.IsKeventForm && Loop.IsOnLoopThread && !IsShuttingDown)
        {
            // Already home: no need to go round the ring.
            DeliverOnLoop(completion);
            return;
        }
        if (!IsShuttingDown)
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
        if (_inflight.TryGetValue(kevent.Ident, out ThreadletCompletion? completion))
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
        completion.Deliver();
    }

    private void Forget(ThreadletCompletion completion)
    {
        _inflight.TryRemove(completion.Id, out _);
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
