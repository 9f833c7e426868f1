using System.Runtime.CompilerServices;
using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// One turn of the loop, phase by phase (see the class remarks for the order and why).
public sealed partial class EventLoop
{
    private const int TimeoutForever = -1;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly EpollEvent[] _pollerEvents;
    private BatchEntry[] _batch;
    private int _batchCount;
    private bool _pulling;

    // True while Run() dispatches: nothing collects kevents for Poll then, so a pull registration is refused and an
    // unclaimed kevent is a lost one, worth a warning (at most once a second: a level-triggered one recurs each turn).
    private bool _inRun;
    private long _lastUnclaimedLogNs = long.MinValue / 2;
    private int _lastReady;
    private readonly Queue<Kevent> _pullBacklog = new();
    private bool _stalePollerEntry;
    private long _lastPollerRebuildNs;

    /// <summary>A kevent collected in phases 5 and 6, with the epoch of the registration it was collected for.</summary>
    private struct BatchEntry
    {
        public Kevent Kevent;
        public int Epoch;
        /// <summary>io_uring receive: the provided buffer holding the kevent's bytes, plus one; 0 for none.</summary>
        public int Buffer;
    }

    /// <summary>
    /// The pull API (kevent_get_events style): runs one turn of the loop on the calling thread and copies the
    /// kevents of registrations that have no handler into <paramref name="events"/>. Registrations with handlers
    /// are dispatched to them as usual during the call. Kevents beyond the span's length are kept, in order, for
    /// the next call.
    /// </summary>
    /// <param name="events">Where ready kevents are written.</param>
    /// <param name="timeout">How long to wait when nothing is ready: <see cref="Timeout.InfiniteTimeSpan"/> waits
    /// for the first event, zero polls.</param>
    /// <returns>How many kevents were written.</returns>
    public int Poll(Span<Kevent> events, TimeSpan timeout)
    {
        if (events.IsEmpty)
        {
            throw new ArgumentException("Poll needs room for at least one kevent.", nameof(events));
        }
        int timeoutMs = ToTimeoutMs(timeout);
        Enter(nameof(Poll), Environment.CurrentManagedThreadId);
        _pulling = true;
        try
        {
            int written = 0;
            while (written < events.Length && _pullBacklog.TryDequeue(out Kevent pending))
            {
                events[written++] = pending;
            }
            return RunOnce(events, written > 0 ? 0 : timeoutMs, written);
        }
        finally
        {
            _pulling = false;
            Leave();
        }
    }

    private static int ToTimeoutMs(TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return TimeoutForever;
        }
        if (timeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "Use Timeout.InfiniteTimeSpan to wait forever, or a non-negative time.");
        }
        double ms = Math.Ceiling(timeout.TotalMilliseconds);
        return ms >= int.MaxValue ? int.MaxValue : (int)ms;
    }

    private int RunOnce(Span<Kevent> output, int maxTimeoutMs, int written = 0)
    {
        _metrics.Iterations++;

        // Phase 1: the clock every handler of this turn sees.
        _nowNs = ReadClock();
        long busyStart = _nowNs;
        _metrics.RollWindow(busyStart);

        // Phase 2: timers.
        FireTimers(output, ref written);

        // Phase 3: posted work and continuations, bounded.
        RunPosted();

        // Phase 4: how long may we sleep?
        long timeoutNs = ComputeTimeout(maxTimeoutMs, written);

        // Phase 5: wait in epoll and collect.
        long waitStart = ReadClock();
        _metrics.BusyNanoseconds += waitStart - busyStart;
        int ready = _uring is null ? WaitForEvents(timeoutNs) : WaitInRing(timeoutNs);
        _lastReady = ready;
        _nowNs = ReadClock();
        busyStart = _nowNs;
        _readyNs = busyStart;
        _batchCount = 0;
        if (_uring is null)
        {
            CollectPollerEvents(_pollerEvents.AsSpan(0, ready));
        }
        else
        {
            CollectCompletions();
        }

        if (_stalePollerEntry)
        {
            RebuildPoller();
        }

        // Phase 6: completions from other threads join the same batch.
        DrainCompletions();

        // Phase 7: one dispatcher for all of it.
        DispatchBatch(output, ref written);
        if (_rearmCount > 0)
        {
            RearmPolls();
        }

        _metrics.BusyNanoseconds += ReadClock() - busyStart;
        return written;
    }

    /// <summary>How long phase 5 may block, in nanoseconds: 0 when work is pending, -1 for "until an event".</summary>
    private long ComputeTimeout(int maxTimeoutMs, int written)
    {
        // Announce that we may sleep, then look for work: a producer that enqueues after this exchange sees 0 and
        // writes the eventfd; one that enqueued before it is seen by the checks below (both sides use full fences).
        Interlocked.Exchange(ref _wakeState, WakeStateMaySleep);
        if (_stopRequested || written > 0 || _localPosted.Count > 0 || !_posted.IsEmpty || !_completions.IsEmpty || _pullBacklog.Count > 0
            || (_uring is not null && RingHasCompletions))
        {
            return 0;
        }
        long maxNs = maxTimeoutMs < 0 ? long.MaxValue : maxTimeoutMs * 1_000_000L;
        long nextDue = _timers.NextDueTick();
        if (nextDue == long.MaxValue)
        {
            return maxTimeoutMs < 0 ? -1 : maxNs;
        }
        // Sleep exactly until the due tick begins (epoll_pwait2 takes nanoseconds), so a timer fires within
        // microseconds of its millisecond rather than up to a millisecond late.
        long dueNs = nextDue > long.MaxValue / NanosPerTick ? long.MaxValue : nextDue * NanosPerTick;
        long untilDue = Math.Max(0, dueNs - ReadClock());
        return Math.Min(untilDue, maxNs);
    }

    private int WaitForEvents(long timeoutNs)
    {
        int n;
        // Spin only while the loop is lightly loaded (the last wait brought at most one descriptor): that is where a
        // blocking wake-up dominates latency. Under load there is always work soon, and on a small machine a
        // spinning loop would take the CPU its own clients need.
        if (timeoutNs != 0 && _options.SpinBeforeSleep > TimeSpan.Zero && _lastReady <= 1)
        {
            n = SpinThenWait(timeoutNs);
        }
        else
        {
            n = Epoll.WaitPrecise(_epoll!.Fd, _pollerEvents, timeoutNs);
        }
        // Awake: producers need not write the eventfd until we announce sleep again.
        Volatile.Write(ref _wakeState, WakeStateAwake);
        if (n < 0)
        {
            // Only EBADF/EINVAL/EFAULT can land here, which means the loop's own state is broken.
            Log.PollerFailed(_logger, Errno.Describe(n));
            _stopRequested = true;
            return 0;
        }
        return n;
    }

    private int SpinThenWait(long timeoutNs)
    {
        long start = ReadClock();
        long spinUntil = start + _options.SpinBeforeSleep.Ticks * 100;
        // From MaySleep only: if a producer already moved it to Awake, it wrote the eventfd and epoll will say so.
        Interlocked.CompareExchange(ref _wakeState, WakeStateSpinning, WakeStateMaySleep);
        while (true)
        {
            // The queues are plain memory: look at them often. epoll_wait is a syscall: ask it every few rounds,
            // which still sees a descriptor within about a microsecond.
            for (int i = 0; i < 4; i++)
            {
                if (!_posted.IsEmpty || !_completions.IsEmpty || _stopRequested)
                {
                    return 0;
                }
                Thread.SpinWait(8);
            }
            int n = Epoll.Wait(_epoll!.Fd, _pollerEvents, 0);
            if (n != 0)
            {
                return n;
            }
            long now = ReadClock();
            if (timeoutNs > 0 && now - start >= timeoutNs)
            {
                return 0;
            }
            if (now >= spinUntil)
            {
                // Producers must write the eventfd again from here on; announce it (full fence), then look once more.
                Interlocked.Exchange(ref _wakeState, WakeStateMaySleep);
                if (!_posted.IsEmpty || !_completions.IsEmpty || _stopRequested)
                {
                    return 0;
                }
                long remaining = timeoutNs < 0 ? -1 : Math.Max(0, timeoutNs - (now - start));
                return Epoll.WaitPrecise(_epoll!.Fd, _pollerEvents, remaining);
            }
        }
    }

    /// <summary>
    /// Phases 5 (collection) and 7 of a turn on a batch the caller supplies instead of one from epoll_wait, so a
    /// benchmark can measure the path from poller batch to handler without the syscall. Loop thread only.
    /// </summary>
    internal void DispatchPollerBatch(ReadOnlySpan<EpollEvent> events)
    {
        _readyNs = _nowNs;
        _batchCount = 0;
        CollectPollerEvents(events);
        int written = 0;
        DispatchBatch(Span<Kevent>.Empty, ref written);
    }

    private void CollectPollerEvents(ReadOnlySpan<EpollEvent> ready)
    {
        EnsureBatchCapacity(ready.Length * 2);
        FdEntry[] fds = _fds;
        for (int i = 0; i < ready.Length; i++)
        {
            ref readonly EpollEvent ev = ref ready[i];
            ulong data = ev.Data;
            if (data == WakeToken)
            {
                EventFd.Drain(_wakeFd.Fd);
                continue;
            }
            int fd = (int)data;
            if ((uint)fd >= (uint)fds.Length || !fds[fd].InEpoll)
            {
                // epoll reports a descriptor the loop took out of the set: see OnStaleReadiness.
                OnStaleReadiness(fd);
                continue;
            }
            CollectReady(fd, ref fds[fd], ev.Events);
        }
    }

    /// <summary>Turns the readiness <paramref name="events"/> of <paramref name="fd"/> into Read and Write kevents (Write only when <paramref name="readByRing"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CollectReady(int fd, ref FdEntry entry, EpollFlags events, bool readByRing = false)
    {
        bool error = (events & EpollFlags.Err) != 0;
        long errorData = error ? -SocketErrorOf(fd) : 0;

        // readByRing: the fd's multishot receive reports its input, end and errors; a Read readiness from its write poll
        // would send the handler to read(2) beside it and could take bytes out of order.
        if (!readByRing && entry.Read.Active && (events & (EpollFlags.In | EpollFlags.RdHup | EpollFlags.Hup | EpollFlags.Err)) != 0)
        {
            KeventFlags flags = entry.Read.Flags;
            if ((events & (EpollFlags.RdHup | EpollFlags.Hup)) != 0)
            {
                flags |= KeventFlags.Eof;
            }
            long value = errorData;
            if (error)
            {
                flags |= KeventFlags.Error;
            }
            else if ((entry.Read.FilterFlags & (uint)ReadFilterFlags.ReportBytes) != 0)
            {
                value = Math.Max(0, Io.BytesAvailable(fd));
            }
            Append(new Kevent((ulong)fd, KeventFilter.Read, flags, entry.Read.FilterFlags, value, entry.Read.UserData), entry.Read.Epoch);
        }
        if (entry.Write.Active && (events & (EpollFlags.Out | EpollFlags.Hup | EpollFlags.Err)) != 0)
        {
            KeventFlags flags = entry.Write.Flags;
            if ((events & EpollFlags.Hup) != 0)
            {
                flags |= KeventFlags.Eof;
            }
            if (error)
            {
                flags |= KeventFlags.Error;
            }
            Append(new Kevent((ulong)fd, KeventFilter.Write, flags, entry.Write.FilterFlags, errorData, entry.Write.UserData), entry.Write.Epoch);
        }
    }

    /// <summary>
    /// epoll reported <paramref name="fd"/> although the loop holds no interest in it. The one way this happens: the
    /// descriptor was closed before Unregister while a dup of it (or a forked child) kept the open file alive.
    /// epoll watches open files, so the entry outlived the number, and EPOLL_CTL_DEL by number can no longer reach
    /// it (EBADF). Level-triggered, it would be reported on every wait and hold the loop at 100% CPU. Say so once,
    /// naming the descriptor, and rebuild the set after this collection, which drops the unreachable entry.
    /// </summary>
    private void OnStaleReadiness(int fd)
    {
        // At most once a second: should a rebuild not cure it, a warning per turn would flood the log instead.
        if (_nowNs - _lastPollerRebuildNs < 1_000_000_000 && _lastPollerRebuildNs != 0)
        {
            return;
        }
        Log.StaleDescriptor(_logger, Name, fd);
        _stalePollerEntry = true;
    }

    /// <summary>Replaces the epoll set with a new one that holds exactly the interests the loop has on its books.</summary>
    private void RebuildPoller()
    {
        _stalePollerEntry = false;
        _lastPollerRebuildNs = Math.Max(1, _nowNs);
        int rc = Epoll.Create(out FileDescriptor? fresh);
        if (rc >= 0)
        {
            rc = Epoll.Control(fresh!.Fd, Epoll.Add, _wakeFd.Fd, EpollFlags.In, WakeToken);
        }
        if (rc < 0)
        {
            fresh?.Dispose();
            Log.PollerRebuildFailed(_logger, Name, Errno.Describe(rc));
            return;
        }
        FdEntry[] fds = _fds;
        for (int fd = 0; fd < fds.Length; fd++)
        {
            ref FdEntry entry = ref fds[fd];
            if (entry.InEpoll && Epoll.Control(fresh!.Fd, Epoll.Add, fd, entry.Interest, (ulong)fd) < 0)
            {
                // Closed without Unregister, so it had left the old set too; a later Register adds it again.
                entry.InEpoll = false;
                entry.Interest = EpollFlags.None;
            }
        }
        FileDescriptor old = _epoll!;
        _epoll = fresh!;
        old.Dispose();
    }

    private static int SocketErrorOf(int fd)
    {
        int error = NativeSocket.GetError(fd);
        // Not a socket (a pipe whose reader vanished, say): report a generic I/O error rather than nothing.
        return error > 0 ? error : Errno.EIO;
    }

    private void DrainCompletions()
    {
        // Bounded like posted work: completions that keep arriving wait for the next turn.
        int budget = _options.MaxPostedPerIteration;
        while (budget-- > 0 && _completions.TryDequeue(out Kevent kevent))
        {
            Append(kevent, 0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Append(in Kevent kevent, int epoch, int buffer = 0)
    {
        if (_batchCount == _batch.Length)
        {
            EnsureBatchCapacity(1);
        }
        ref BatchEntry slot = ref _batch[_batchCount++];
        slot.Kevent = kevent;
        slot.Epoch = epoch;
        slot.Buffer = buffer;
    }

    private void EnsureBatchCapacity(int more)
    {
        int needed = _batchCount + more;
        if (needed > _batch.Length)
        {
            Array.Resize(ref _batch, Math.Max(needed, _batch.Length * 2));
        }
    }

    private void DispatchBatch(Span<Kevent> output, ref int written)
    {
        // Handlers may register, unregister or close anything; every entry is re-checked against the live
        // registration right before its handler runs, so nothing is delivered after Unregister returns.
        // The lag histogram takes one sample per batch, at its last entry (the one that waited longest), and only
        // while a listener enables it: an unobserved loop pays this one check per turn.
        int lagSampleAt = _batchCount > 0 && LoopInstruments.Lag.Enabled ? _batchCount - 1 : -1;
        for (int i = 0; i < _batchCount; i++)
        {
            ref BatchEntry entry = ref _batch[i];
            if (i == lagSampleAt)
            {
                RecordLag();
            }
            switch (entry.Kevent.Filter)
            {
                case KeventFilter.Read:
                case KeventFilter.Write:
                    if (entry.Buffer == SentMarker)
                    {
                        DispatchSent(entry, output, ref written);
                    }
                    else if (entry.Buffer != 0)
                    {
                        DispatchReceived(entry, output, ref written);
                    }
                    else
                    {
                        DispatchFd(entry.Kevent, entry.Epoch, output, ref written);
                    }
                    break;
                default:
                    DispatchKeyed(entry.Kevent, output, ref written);
                    break;
            }
            // Drop references the batch no longer needs (none today: kevents hold no references).
        }
        _batchCount = 0;
    }

    private void DispatchFd(in Kevent kevent, int epoch, Span<Kevent> output, ref int written)
    {
        // Read and Write entries come only from epoll (Complete refuses them), but an ident outside the table must
        // never throw here: this runs outside the handler guard, and an exception would end Run().
        if (kevent.Ident >= (ulong)_fds.Length)
        {
            return;
        }
        int fd = (int)kevent.Ident;
        ref FdEntry entry = ref _fds[fd];
        ref FdSlot slot = ref kevent.Filter == KeventFilter.Read ? ref entry.Read : ref entry.Write;
        if (!slot.Active || slot.Epoch != epoch)
        {
            return;
        }
        KeventHandler? handler = slot.Handler;
        if ((slot.Flags & KeventFlags.Oneshot) != 0)
        {
            slot = default;
            UpdateInterest(fd, ref entry);
        }
        else if ((slot.Flags & KeventFlags.Dispatch) != 0)
        {
            slot.Enabled = false;
            UpdateInterest(fd, ref entry);
        }
        Deliver(kevent, handler, output, ref written);
    }

    private void Deliver(in Kevent kevent, KeventHandler? handler, Span<Kevent> output, ref int written)
    {
        _metrics.Dispatched[(uint)kevent.Filter % KeventFilters.Count]++;
        if (handler is null)
        {
            Pull(kevent, output, ref written);
            return;
        }
        try
        {
            if (_handlerWatch is { } watch) InvokeWatched(watch, handler, kevent); else handler(in kevent);
        }
        catch (Exception ex)
        {
            _metrics.HandlerErrors++;
            Log.HandlerFailed(_logger, Describe(handler), kevent, ex);
        }
    }

    private void Pull(in Kevent kevent, Span<Kevent> output, ref int written)
    {
        if (!_pulling)
        {
            if (_nowNs - _lastUnclaimedLogNs >= 1_000_000_000)
            {
                _lastUnclaimedLogNs = _nowNs;
                Log.UnclaimedKevent(_logger, kevent, Name);
            }
            return;
        }
        if (written < output.Length)
        {
            output[written++] = kevent;
        }
        else
        {
            _pullBacklog.Enqueue(kevent);
        }
    }

    internal static string Describe(Delegate handler) =>
        $"{handler.Method.DeclaringType?.FullName}.{handler.Method.Name}";
}
