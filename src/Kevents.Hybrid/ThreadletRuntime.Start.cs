using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

// Starting threadlets: inline first, unless adaptive routing or the test switch sends them straight to a thread.
public sealed partial class ThreadletRuntime
{
    internal ValueTask<T> Start<T>(Func<Threadlet, ValueTask<T>> body, CancellationToken cancellationToken, Delegate? kindOf = null)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }
        ThrowIfShutDown();
        if (!Loop.IsOnLoopThread)
        {
            return StartFromOtherThread(body, cancellationToken, kindOf ?? body);
        }

        KindRouter.Kind? kind = _router.Lookup(kindOf ?? body);
        Threadlet threadlet = Rent(cancellationToken, kind);
        if (Simulates(SimulatedBlocking.Start) || _router.StartOnThread(kind))
        {
            threadlet.Body = kindOf ?? body;
            var cold = AwaitableCompletion<T>.For(threadlet, body);
            Track(cold);
            StartOnThread(cold);
            return cold.Task;
        }

        long started = _watchThresholdTicks > 0 ? Now() : 0;
        ValueTask<T> task;
        try
        {
            task = body(threadlet);
        }
        catch (Exception ex)
        {
            task = ValueTask.FromException<T>(ex);
        }
        EndInlineSegment(threadlet, kindOf ?? body, started);

        if (task.IsCompleted && !threadlet.Offloaded)
        {
            // The whole threadlet ran inline: no hop, no completion kevent, nothing allocated here.
            _metrics.Inline++;
            Return(threadlet);
            return task;
        }
        threadlet.Body = kindOf ?? body;
        var completion = AwaitableCompletion<T>.For(threadlet, body: null);
        Track(completion);
        completion.Attach(task);
        return completion.Task;
    }

    private ValueTask<T> StartFromOtherThread<T>(Func<Threadlet, ValueTask<T>> body, CancellationToken cancellationToken, Delegate kindOf)
    {
        // The pool of handles is the loop's; a foreign caller gets its own handle, and the start runs on the loop.
        var threadlet = new Threadlet(this);
        threadlet.Reset(NextId(), cancellationToken, kind: null);
        threadlet.Body = kindOf;
        var completion = AwaitableCompletion<T>.For(threadlet, body);
        Track(completion);
        if (!TryPostToLoop(() => StartPosted(completion, kindOf)))
        {
            completion.Fail(new ObjectDisposedException(nameof(EventLoop), $"The loop '{Loop.Name}' was disposed before the threadlet could start."));
        }
        return completion.Task;
    }

    private void StartPosted(ThreadletCompletion completion, Delegate body)
    {
        if (completion.Threadlet.IsCancellationRequested)
        {
            completion.Fail(new OperationCanceledException(completion.Threadlet.CancellationToken));
            return;
        }
        KindRouter.Kind? kind = _router.Lookup(body);
        if (Simulates(SimulatedBlocking.Start) || _router.StartOnThread(kind))
        {
            StartOnThread(completion);
            return;
        }
        long started = _watchThresholdTicks > 0 ? Now() : 0;
        completion.StartBody();
        EndInlineSegment(completion.Threadlet, body, started, kind);
    }

    internal ulong StartKevent(Func<Threadlet, ValueTask<long>> body, ulong userData, KeventHandler? handler, CancellationToken cancellationToken)
    {
        Loop.VerifyAccess("SubmitThreadlet");
        ThrowIfShutDown();
        // From the loop's ident allocator, like file submissions' ids, so an id of one kind never names a pending
        // submission of the other (EventLoopAioExtensions.CancelSubmission returns false for a threadlet's id).
        ulong id = Loop.AllocateIdent();
        var registration = new Kevent(id, KeventFilter.Threadlet, KeventFlags.Oneshot, 0, 0, userData);
        if (handler is null)
        {
            Loop.Register(registration);
        }
        else
        {
            Loop.Register(registration, handler);
        }
        Threadlet threadlet = Unpooled(id, body, cancellationToken);
        Launch(new KeventCompletion(threadlet, body, userData));
        return id;
    }

    /// <summary>
    /// Loop thread, for another Kevents layer (AsyncFile's threadlet engine): runs <paramref name="body"/> as a threadlet
    /// whose outcome goes to <paramref name="onDone"/> (result, failure, loop gone) exactly once, on the loop thread
    /// while the loop can dispatch (see <see cref="CallbackCompletion"/>). The runtime's shutdown waits for it at least
    /// <paramref name="shutdownAllowance"/>. Throws, calling nothing, only when the runtime is shut down.
    /// </summary>
    internal void StartForLayer(Func<Threadlet, ValueTask<int>> body, CancellationToken cancellationToken, TimeSpan shutdownAllowance,
        Action<int, Exception?, bool> onDone)
    {
        ThrowIfShutDown();
        Threadlet threadlet = Unpooled(NextId(), body, cancellationToken);
        Launch(new CallbackCompletion(threadlet, body, onDone, shutdownAllowance));
    }

    /// <summary>A handle of its own (not from the pool) for a threadlet whose completion is not awaited.</summary>
    private Threadlet Unpooled(ulong id, Delegate body, CancellationToken cancellationToken)
    {
        var threadlet = new Threadlet(this);
        threadlet.Reset(id, cancellationToken, _router.Lookup(body));
        threadlet.Body = body;
        return threadlet;
    }

    /// <summary>
    /// Loop thread: starts the threadlet <paramref name="completion"/> carries: failed at once when already cancelled,
    /// on a thread when routing (or the test switch) says so, else inline.
    /// </summary>
    private void Launch(ThreadletCompletion completion)
    {
        Threadlet threadlet = completion.Threadlet;
        KindRouter.Kind? kind = threadlet.Kind;
        Track(completion);
        if (threadlet.CallerToken.IsCancellationRequested)
        {
            completion.Fail(new OperationCanceledException(threadlet.CallerToken));
        }
        else if (Simulates(SimulatedBlocking.Start) || _router.StartOnThread(kind))
        {
            StartOnThread(completion);
        }
        else
        {
            long started = _watchThresholdTicks > 0 ? Now() : 0;
            completion.StartBody();
            EndInlineSegment(threadlet, threadlet.Body!, started, kind);
        }
    }

    private void StartOnThread(ThreadletCompletion completion)
    {
        var op = new StartOp(completion.Threadlet, completion);
        op.Submit(static () => { });
    }

    /// <summary>Watchdog and routing bookkeeping for the inline part of a threadlet that just returned to the loop.</summary>
    private void EndInlineSegment(Threadlet threadlet, Delegate body, long started, KindRouter.Kind? kind = null)
    {
        bool blocked = threadlet.Offloaded;
        if (_watchThresholdTicks > 0)
        {
            long held = Now() - started;
            if (held >= _watchThresholdTicks)
            {
                blocked = true;
                ReportBlocked($"threadlet {EventLoopThreadletExtensions.Describe(body)} (inline part)", null, TimeSpan.FromSeconds((double)held / _time.TimestampFrequency));
            }
        }
        _router.Record(kind ?? threadlet.Kind, blocked);
    }

    private Threadlet Rent(CancellationToken cancellationToken, KindRouter.Kind? kind)
    {
        if (!_free.TryPop(out Threadlet? threadlet))
        {
            threadlet = new Threadlet(this);
        }
        threadlet.Reset(NextId(), cancellationToken, kind);
        return threadlet;
    }

    private void Return(Threadlet threadlet)
    {
        if (_free.Count < MaxPooledThreadlets)
        {
            threadlet.Reset(0, default, null);
            _free.Push(threadlet);
        }
    }

    private void ThrowIfShutDown()
    {
        if (IsShuttingDown)
        {
            throw new ObjectDisposedException(nameof(EventLoop), $"The loop '{Loop.Name}' is shutting down; no new threadlets start.");
        }
    }
}
