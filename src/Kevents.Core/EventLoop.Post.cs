using System.Collections.Concurrent;
using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// Cross-thread hand-off: posted work, completions and user triggers, and the wake-up protocol behind them.
//
// Wake-up protocol. _wakeState is Awake while the loop runs handlers and MaySleep from the moment it starts
// deciding whether to block. A producer publishes its item first, then (after a full fence) moves the state from
// MaySleep to Awake with a CAS; the one producer that wins writes the eventfd. The loop sets MaySleep with a full
// fence before it checks the queues. So either the loop sees the item and does not block, or the producer sees
// MaySleep and wakes it: no lost wake-up, and at most one eventfd write per sleep.
// While the loop spins before sleeping (SpinBeforeSleep) the state is Spinning: the loop is polling the queues
// itself, so producers skip the eventfd write (a syscall on their side, a read and a larger epoll batch on the loop's).
// Before it blocks, the loop moves Spinning to MaySleep with a full fence and checks the queues once more: the same
// pairing as above, so an item published during the spin is either seen by that check or wakes the loop.
public sealed partial class EventLoop
{
    private const int WakeStateAwake = 1;
    private const int WakeStateMaySleep = 0;
    private const int WakeStateSpinning = 2;

    private static readonly Action<object?> s_runAction = static state => ((Action)state!)();
    private readonly Action<object?> _runAsync;

    private readonly MpscRing<WorkItem> _posted;
    private readonly MpscRing<Kevent> _completions;
    private readonly Queue<WorkItem> _localPosted = new();
    private readonly object _postedDrainLock = new();
    private readonly ConcurrentDictionary<ulong, KeyedRegistration> _userEvents = new();
    private int _wakeState = WakeStateAwake;

    /// <summary>
    /// Runs <paramref name="action"/> on the loop thread during a coming turn (phase 3). Safe from any thread.
    /// Items posted from one thread run in the order they were posted.
    /// </summary>
    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        PostCore(new WorkItem(s_runAction, action));
    }

    /// <summary>
    /// Runs <paramref name="callback"/> with <paramref name="state"/> on the loop thread. With a static lambda this
    /// allocates nothing. Safe from any thread; per-thread order is kept.
    /// </summary>
    public void Post(Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        PostCore(new WorkItem(callback, state));
    }

    /// <summary>
    /// Starts <paramref name="asyncAction"/> on the loop thread; its awaits resume there too. An exception it
    /// throws is logged like a handler's. Safe from any thread.
    /// </summary>
    public void Post(Func<Task> asyncAction)
    {
        ArgumentNullException.ThrowIfNull(asyncAction);
        PostCore(new WorkItem(_runAsync, asyncAction));
    }

    /// <summary>
    /// The synchronization context's path: like <see cref="Post(Action{object?}, object?)"/>, but a continuation that
    /// arrives after the loop was disposed is dropped instead of throwing on some thread-pool thread (nothing could
    /// run it any more, and an exception there would take the process down).
    /// </summary>
    internal void PostCallback(SendOrPostCallback callback, object? state)
    {
        if (!TryPostCore(new WorkItem(callback, state)))
        {
            Log.PostAfterDispose(_logger, Name);
        }
    }

    private void PostCore(in WorkItem item)
    {
        if (!TryPostCore(item))
        {
            throw new ObjectDisposedException(nameof(EventLoop), $"The loop '{Name}' was disposed; nothing posted to it can run.");
        }
    }

    private bool TryPostCore(in WorkItem item)
    {
        if (IsOnLoopThread)
        {
            _localPosted.Enqueue(item);
            return true;
        }
        if (Volatile.Read(ref _state) == StateDisposed)
        {
            return false;
        }
        _posted.Enqueue(item);
        Wake();
        // Dispose may have begun between the check above and the enqueue, and drained before our item landed. Wake's
        // full fence orders the enqueue before this read: either Release's drain (which follows its state exchange)
        // sees the item, or we see Disposed here and drain it ourselves. Either way it is counted and reported.
        if (Volatile.Read(ref _state) == StateDisposed)
        {
            int dropped = DrainPostedAfterDispose();
            if (dropped > 0)
            {
                Log.PendingWorkDropped(_logger, Name, dropped);
            }
        }
        return true;
    }

    /// <summary>
    /// Takes whatever is left in the posted ring once the loop is disposed. The loop thread no longer consumes then,
    /// so the lock makes each caller (Release, or a producer that lost the race) the ring's single consumer in turn.
    /// </summary>
    private int DrainPostedAfterDispose()
    {
        int dropped = 0;
        lock (_postedDrainLock)
        {
            while (_posted.TryDequeue(out _))
            {
                dropped++;
            }
        }
        return dropped;
    }

    /// <summary>
    /// Queues a completion kevent (an <see cref="KeventFilter.Aio"/> or <see cref="KeventFilter.Threadlet"/> result)
    /// to be dispatched in the loop's next batch, beside socket and timer events. Safe from any thread; never blocks
    /// and never drops: a full ring spills into an overflow list (metric <c>kevents.loop.ring.overflows</c>).
    /// </summary>
    /// <remarks>The kevent goes to the registration with its (Ident, Filter), else to the filter's handler
    /// (<see cref="SetFilterHandler"/>), else to <see cref="Poll"/>. Kevents of the other filters are raised by the
    /// loop itself (Read and Write by epoll, Timer by the timer wheel, Signal by the signal handler) or through
    /// <see cref="Trigger(ulong)"/> (User), so <c>Complete</c> refuses them rather than dropping them later.</remarks>
    /// <exception cref="ArgumentException">The kevent's filter is not Aio or Threadlet; the message says what to use instead.</exception>
    /// <exception cref="ObjectDisposedException">The loop was disposed.</exception>
    public void Complete(in Kevent kevent)
    {
        if (kevent.Filter is not (KeventFilter.Aio or KeventFilter.Threadlet))
        {
            throw new ArgumentException(NotACompletion(kevent), nameof(kevent));
        }
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == StateDisposed, this);
        EnqueueCompletion(kevent);
    }

    private static string NotACompletion(in Kevent kevent) => kevent.Filter switch
    {
        KeventFilter.Read or KeventFilter.Write =>
            $"Complete cannot deliver {kevent.Filter} ident={kevent.Ident}: {kevent.Filter} kevents come from epoll for a registered descriptor. " +
            "To run code on the loop use Post; to wake a handler from another thread register a User kevent and call Trigger.",
        KeventFilter.User =>
            $"Complete cannot deliver User ident={kevent.Ident}: user events are raised with loop.Trigger({kevent.Ident}), which also coalesces repeated triggers.",
        KeventFilter.Timer =>
            $"Complete cannot deliver Timer ident={kevent.Ident}: timers fire by themselves; register Kevent.Timer, or Trigger a User kevent to fire now.",
        KeventFilter.Signal =>
            $"Complete cannot deliver Signal ident={kevent.Ident}: signals come from the operating system; register Kevent.Signal, or Trigger a User kevent.",
        _ => $"Complete cannot deliver a kevent with filter {kevent.Filter}: it carries only Aio and Threadlet completions.",
    };

    /// <summary>Queues any kevent for the next batch; the loop's own producers (triggers, signals) come here directly.</summary>
    private void EnqueueCompletion(in Kevent kevent)
    {
        _completions.Enqueue(kevent);
        if (!IsOnLoopThread)
        {
            Wake();
        }
    }

    /// <summary>
    /// Triggers the user event <paramref name="ident"/> (registered with <see cref="Kevent.User"/>). Triggers that
    /// arrive before the loop delivers the event coalesce into one delivery. Safe from any thread.
    /// </summary>
    /// <returns>False when no user event with that ident is registered.</returns>
    public bool Trigger(ulong ident)
    {
        if (!_userEvents.TryGetValue(ident, out KeyedRegistration? reg))
        {
            return false;
        }
        if (Interlocked.Exchange(ref reg.Pending, 1) == 0)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) == StateDisposed, this);
            EnqueueCompletion(new Kevent(ident, KeventFilter.User, KeventFlags.None, (uint)reg.Epoch));
        }
        return true;
    }

    /// <summary>Makes a sleeping loop return from epoll_wait; cheap when it is awake.</summary>
    private void Wake()
    {
        // The fence orders the caller's enqueue before the read of _wakeState (x64 may reorder a store and a later load).
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _wakeState) == WakeStateMaySleep &&
            Interlocked.CompareExchange(ref _wakeState, WakeStateAwake, WakeStateMaySleep) == WakeStateMaySleep)
        {
            // Hold a reference so a concurrent Dispose cannot close the eventfd (and let its number be reused by
            // some other file) between reading the number and writing to it.
            bool added = false;
            try
            {
                _wakeFd.DangerousAddRef(ref added);
                EventFd.Signal(_wakeFd.Fd);
            }
            catch (ObjectDisposedException)
            {
                // Disposed meanwhile: nobody is left to wake.
            }
            finally
            {
                if (added)
                {
                    _wakeFd.DangerousRelease();
                }
            }
        }
    }

    private void RunPosted()
    {
        int budget = _options.MaxPostedPerIteration;
        // Items the loop posts to itself while this phase runs wait for the next turn, like libuv's pending queue.
        int local = _localPosted.Count;
        while (budget > 0 && local-- > 0)
        {
            budget--;
            RunWorkItem(_localPosted.Dequeue());
        }
        while (budget > 0 && _posted.TryDequeue(out WorkItem item))
        {
            budget--;
            RunWorkItem(item);
        }
    }

    private void RunWorkItem(in WorkItem item)
    {
        _metrics.PostedRun++;
        try
        {
            if (_handlerWatch is { } watch) InvokeWatched(watch, item); else item.Invoke();
        }
        catch (Exception ex)
        {
            _metrics.HandlerErrors++;
            Log.PostedWorkFailed(_logger, item.Describe(), ex);
        }
    }

    private void ObserveAsync(Func<Task> asyncAction)
    {
        Task task = asyncAction();
        if (task.IsCompleted)
        {
            // Throws for a faulted task, so the failure is logged by the posted-work path.
            task.GetAwaiter().GetResult();
            return;
        }
        task.ContinueWith(static (t, state) =>
        {
            var (loop, action) = ((EventLoop, Func<Task>))state!;
            if (t.Exception is { } ex)
            {
                loop._metrics.HandlerErrors++;
                Log.PostedWorkFailed(loop._logger, Describe(action), ex.InnerExceptions.Count == 1 ? ex.InnerException! : ex);
            }
        }, (this, asyncAction), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private int DropPendingWork()
    {
        int dropped = _localPosted.Count;
        _localPosted.Clear();
        dropped += DrainPostedAfterDispose();
        while (_completions.TryDequeue(out _))
        {
        }
        return dropped;
    }
}
