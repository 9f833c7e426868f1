using System.Runtime.CompilerServices;
using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// The io_uring backend of the poller. The loop keeps one book of interests (_fds) for both backends; this file turns
// that book into poll requests in the ring, and the ring's completions back into the same Read and Write kevents the
// epoll collection appends, so everything above CollectReady is shared.
//
// A level-triggered interest (the default, and what Kevents.Net registers) is a one-shot poll, re-armed after the
// batch was dispatched: re-arming before dispatch would report the same unread data twice, and re-arming after lets
// the kernel look at the descriptor fresh, which is what level-triggered epoll does on each wait. A Clear (edge)
// interest is a multishot poll that stays armed; when the kernel ends it (a completion without IORING_CQE_F_MORE) it
// is re-armed the same way. Every change of interest removes the old poll (POLL_REMOVE by its user data) and arms a
// new one under the next generation; a completion whose generation is not the entry's current one is ignored.
// Nothing is submitted on its own: the entries prepared during a turn go to the kernel in the one io_uring_enter that
// also waits (phase 5).
public sealed partial class EventLoop
{
    /// <summary>The environment variable that picks the backend of loops whose options say <see cref="LoopBackend.Default"/>.</summary>
    public const string BackendEnvironmentVariable = "KEVENTS_BACKEND";

    // User data: kind in the top byte; for polls a 24-bit generation above the 32-bit descriptor.
    private const ulong RingKindPoll = 1UL << 56;
    private const ulong RingKindRemove = 2UL << 56;
    private const ulong RingKindWake = 3UL << 56;
    private const ulong RingKindMask = 0xFFUL << 56;
    private const uint PollGenerationMask = 0xFF_FFFF;

    private readonly LoopBackend _backend;
    private IoUringRing? _uring;
    private int[] _rearm = new int[64];
    private int _rearmCount;

    /// <summary>
    /// The backend this loop waits in: <see cref="LoopBackend.Epoll"/> or <see cref="LoopBackend.IoUring"/>, after the
    /// environment was consulted and after any fallback (never <see cref="LoopBackend.Default"/>).
    /// </summary>
    public LoopBackend Backend => _backend;

    /// <summary>The loop's ring on the io_uring backend (null on epoll), for tests that look at its sizes.</summary>
    internal IoUringRing? Ring => _uring;

    private bool RingHasCompletions => _uring!.PendingCompletions > 0 || _uring.HasOverflow || _uring.HasTaskWork || _heldMayMove;

    /// <summary>The backend asked for: the options', else the environment's, else epoll. <paramref name="why"/> says why an unreadable variable was ignored.</summary>
    private static LoopBackend ResolveBackend(LoopBackend requested, out string? why)
    {
        why = null;
        if (requested != LoopBackend.Default)
        {
            return requested;
        }
        string? value = Environment.GetEnvironmentVariable(BackendEnvironmentVariable);
        if (string.IsNullOrEmpty(value))
        {
            return LoopBackend.Epoll;
        }
        if (TryParseBackend(value, out LoopBackend parsed))
        {
            return parsed;
        }
        why = $"{BackendEnvironmentVariable}='{value}' names no backend (use epoll or io_uring)";
        return LoopBackend.Epoll;
    }

    /// <summary>
    /// Reads a backend name as the samples' <c>--backend</c> option and <c>KEVENTS_BACKEND</c> spell it: <c>epoll</c>,
    /// <c>io_uring</c> (also <c>iouring</c>, <c>uring</c>) or <c>default</c>, in any case.
    /// </summary>
    /// <returns>False when <paramref name="value"/> names none of them.</returns>
    public static bool TryParseBackend(string? value, out LoopBackend backend)
    {
        switch (value?.Trim().ToLowerInvariant())
        {
            case "epoll":
                backend = LoopBackend.Epoll;
                return true;
            case "io_uring" or "iouring" or "uring" or "io-uring":
                backend = LoopBackend.IoUring;
                return true;
            case "default" or "":
                backend = LoopBackend.Default;
                return true;
            default:
                backend = LoopBackend.Default;
                return false;
        }
    }

    /// <summary>Creates the ring and arms the wake-up poll; false (and why) when the kernel refuses, so the loop uses epoll.</summary>
    private bool TryStartIoUring(out string? why)
    {
        int rc = IoUringRing.Create(_options.IoUringEntries, out IoUringRing? ring,
            new IoUringSetupOptions { CompletionQueueSize = _options.IoUringCompletionEntries, CompletionEventFd = false, CooperativeTaskRun = true });
        if (rc < 0)
        {
            why = rc switch
            {
                -Errno.ENOSYS => "the kernel has no io_uring (io_uring_setup: ENOSYS)",
                -Errno.EPERM => "io_uring is forbidden here (io_uring_setup: EPERM; kernel.io_uring_disabled, a seccomp profile, or KEVENTS_IO_URING=0)",
                _ => $"io_uring_setup failed: {Errno.Describe(rc)}",
            };
            return false;
        }
        // EXT_ARG (5.11): the wait's timeout; NODROP (5.5): no completion lost to a full queue; RSRC_TAGS marks 5.13,
        // the release that brought multishot polls.
        IoUringFeatures needed = IoUringFeatures.ExtendedArgument | IoUringFeatures.NoDrop | IoUringFeatures.ResourceTags;
        if ((ring!.Features & needed) != needed || !ring.Supports(IoUringOpcode.PollAdd) || !ring.Supports(IoUringOpcode.PollRemove))
        {
            why = $"the kernel's io_uring lacks what the loop needs (features {ring.Features}; it needs {needed}, POLL_ADD and POLL_REMOVE: Linux 5.13 or later)";
            ring.Dispose();
            return false;
        }
        if (!ring.PreparePollAdd(_wakeFd.Fd, EpollFlags.In, RingKindWake, multishot: true))
        {
            why = "the ring had no room for the wake-up poll";
            ring.Dispose();
            return false;
        }
        _uring = ring;
        StartReceiveBuffers();
        StartRingAccept();
        StartRingSends();
        why = null;
        return true;
    }

    private static ulong PollUserData(int fd, uint generation) => RingKindPoll | ((ulong)(generation & PollGenerationMask) << 32) | (uint)fd;

    /// <summary>The io_uring side of UpdateInterest: arms, replaces or removes the fd's poll. Returns 0 or -errno.</summary>
    private int UpdatePoll(int fd, ref FdEntry entry, EpollFlags desired, bool force)
    {
        if (force)
        {
            // epoll_ctl refuses a closed descriptor or a regular file at once; a poll request would only fail (or report
            // a file ready forever) in its completion, after Register returned. Ask now, as epoll would.
            int open = IoUringRing.CheckPollable(fd);
            if (open < 0)
            {
                return open;
            }
        }
        NoteHeldMayMove();
        if (_ringAccept && ((entry.Recv != RecvState.Idle && entry.RecvIsAccept) || (entry.Read.FilterFlags & AcceptInRingFilterFlag) != 0))
        {
            if (UpdateAccept(fd, ref entry) < 0)
            {
                return -Errno.EBUSY;
            }
            if (WantsRingAccept(ref entry))
            {
                // The accept reports connections; a listener wants nothing else of its Read interest.
                desired &= ~(EpollFlags.In | EpollFlags.RdHup);
                if ((desired & ~EpollFlags.EdgeTriggered) == EpollFlags.None)
                {
                    desired = EpollFlags.None;
                }
            }
        }
        else if (_receiveBuffers is not null && (entry.Recv != RecvState.Idle || (entry.Read.FilterFlags & ReceiveInRingFilterFlag) != 0))
        {
            if (UpdateRecv(fd, ref entry) < 0)
            {
                return -Errno.EBUSY;
            }
            if (WantsRingReceive(ref entry))
            {
                // The receive reports input, the end and errors; the poll is left with writability, if anything.
                desired &= ~(EpollFlags.In | EpollFlags.RdHup);
                if ((desired & ~EpollFlags.EdgeTriggered) == EpollFlags.None)
                {
                    desired = EpollFlags.None;
                }
            }
        }
        if (desired == EpollFlags.None)
        {
            if (entry.InEpoll)
            {
                PreparePollRemove(PollUserData(fd, entry.PollGeneration));
                entry.InEpoll = false;
            }
            entry.Interest = EpollFlags.None;
            return 0;
        }
        if (entry.InEpoll && desired == entry.Interest && !force)
        {
            return 0;
        }
        if (entry.InEpoll)
        {
            PreparePollRemove(PollUserData(fd, entry.PollGeneration));
        }
        entry.PollGeneration = (entry.PollGeneration + 1) & PollGenerationMask;
        bool multishot = (desired & EpollFlags.EdgeTriggered) != 0;
        EpollFlags mask = desired & ~EpollFlags.EdgeTriggered;
        ulong userData = PollUserData(fd, entry.PollGeneration);
        if (!PreparePollAdd(fd, mask, userData, multishot))
        {
            entry.InEpoll = false;
            entry.Interest = EpollFlags.None;
            return -Errno.EBUSY;
        }
        entry.InEpoll = true;
        entry.Interest = desired;
        return 0;
    }

    private bool PreparePollAdd(int fd, EpollFlags mask, ulong userData, bool multishot)
    {
        IoUringRing ring = _uring!;
        // A full submission queue is sent on at once (without waiting); the entry then fits.
        return ring.PreparePollAdd(fd, mask, userData, multishot)
            || (FlushSubmissions() && ring.PreparePollAdd(fd, mask, userData, multishot));
    }

    private void PreparePollRemove(ulong target)
    {
        IoUringRing ring = _uring!;
        if (!ring.PreparePollRemove(target, RingKindRemove) && !(FlushSubmissions() && ring.PreparePollRemove(target, RingKindRemove)))
        {
            // The kernel takes nothing more until completions are reaped. The old poll's completion, whenever it comes,
            // carries a generation the entry no longer has and is ignored; only the file stays referenced meanwhile.
            return;
        }
    }

    private bool FlushSubmissions()
    {
        int rc = _uring!.SubmitAndWait(0);
        return rc > 0;
    }

    /// <summary>Phase 5 on io_uring: submit what the turn prepared and wait for a completion, a wake-up or the timeout.</summary>
    private int WaitInRing(long timeoutNs)
    {
        if (HasRingFlushes)
        {
            RunRingFlushes();
            if (HasRingFlushes)
            {
                // A send the full ring refused waits for the next turn, which must come at once.
                timeoutNs = 0;
            }
        }
        int rc = timeoutNs != 0 && _options.SpinBeforeSleep > TimeSpan.Zero && _lastReady <= 1
            ? SpinThenWaitInRing(timeoutNs)
            : _uring!.SubmitAndWait(timeoutNs);
        Volatile.Write(ref _wakeState, WakeStateAwake);
        if (rc < 0 && rc != -Errno.ETIME && rc != -Errno.EINTR && rc != -Errno.EBUSY && rc != -Errno.EAGAIN)
        {
            // EBADF, EFAULT, EINVAL: the loop's own state is broken, as with epoll.
            Log.PollerFailed(_logger, Errno.Describe(rc));
            _stopRequested = true;
        }
        return _uring!.PendingCompletions;
    }

    /// <summary>
    /// SpinBeforeSleep on io_uring: submit what the turn prepared, then watch the completion queue, which is plain
    /// shared memory (no syscall per look, unlike epoll's spin), and the loop's own queues, before sleeping in the ring.
    /// </summary>
    private int SpinThenWaitInRing(long timeoutNs)
    {
        IoUringRing ring = _uring!;
        int rc = ring.SubmitAndWait(0);
        long start = ReadClock();
        long spinUntil = start + _options.SpinBeforeSleep.Ticks * 100;
        // From MaySleep only: if a producer already moved it to Awake, it wrote the eventfd and the ring will say so.
        Interlocked.CompareExchange(ref _wakeState, WakeStateSpinning, WakeStateMaySleep);
        while (true)
        {
            for (int i = 0; i < 16; i++)
            {
                if (ring.PendingCompletions > 0 || !_posted.IsEmpty || !_completions.IsEmpty || _stopRequested)
                {
                    return rc;
                }
                if (ring.HasTaskWork)
                {
                    // Completions wait for this thread to enter the ring (cooperative task running): let them in.
                    rc = ring.SubmitAndWait(0);
                    continue;
                }
                Thread.SpinWait(8);
            }
            long now = ReadClock();
            if (timeoutNs > 0 && now - start >= timeoutNs)
            {
                return rc;
            }
            if (now >= spinUntil)
            {
                // Producers must write the eventfd again from here on; announce it (full fence), then look once more.
                Interlocked.Exchange(ref _wakeState, WakeStateMaySleep);
                if (!_posted.IsEmpty || !_completions.IsEmpty || _stopRequested)
                {
                    return rc;
                }
                long remaining = timeoutNs < 0 ? -1 : Math.Max(0, timeoutNs - (now - start));
                return remaining == 0 ? rc : ring.SubmitAndWait(remaining);
            }
        }
    }

    /// <summary>Phase 5's collection on io_uring: completions become the same kevents epoll's readiness does.</summary>
    private void CollectCompletions()
    {
        IoUringRing ring = _uring!;
        // Bounded like epoll's batch, so one turn cannot grow without end; the rest waits for the next turn, whose
        // timeout is then zero (RingHasCompletions).
        int budget = _options.MaxEventsPerWait;
        if (_heldMayMove)
        {
            ReleaseHeld();
        }
        EnsureBatchCapacity(budget * 2);
        FdEntry[] fds = _fds;
        while (budget > 0 && ring.TryReap(out IoUringCompletion c))
        {
            ulong kind = c.UserData & RingKindMask;
            if (kind == RingKindPoll)
            {
                budget--;
                CollectPoll(fds, c);
            }
            else if (kind == RingKindRecv)
            {
                budget--;
                CollectRecv(fds, c);
            }
            else if (kind == RingKindAccept)
            {
                budget--;
                CollectAccept(fds, c);
            }
            else if (kind == RingKindSend)
            {
                // Not counted against the budget: a send's completion only ends the send (no read, no parse), and
                // with one per echoed message counting it would halve the input a turn takes in.
                CollectSend(c);
            }
            else if (kind == RingKindWake)
            {
                EventFd.Drain(_wakeFd.Fd);
                if ((c.Flags & IoUringAbi.CqeMore) == 0 && !ring.PreparePollAdd(_wakeFd.Fd, EpollFlags.In, RingKindWake, multishot: true)
                    && !(FlushSubmissions() && ring.PreparePollAdd(_wakeFd.Fd, EpollFlags.In, RingKindWake, multishot: true)))
                {
                    Log.PollerFailed(_logger, "the wake-up poll could not be re-armed: the ring's submission queue stayed full");
                    _stopRequested = true;
                }
            }
            // RingKindRemove: the answer to a POLL_REMOVE (0, or -ENOENT when the poll had completed); nothing to do.
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CollectPoll(FdEntry[] fds, in IoUringCompletion c)
    {
        int fd = (int)(uint)c.UserData;
        uint generation = (uint)(c.UserData >> 32) & PollGenerationMask;
        if ((uint)fd >= (uint)fds.Length)
        {
            return;
        }
        ref FdEntry entry = ref fds[fd];
        if (!entry.InEpoll || entry.PollGeneration != generation)
        {
            // A poll the loop removed or replaced; its last word (often -ECANCELED) is of no interest.
            return;
        }
        if ((c.Flags & IoUringAbi.CqeMore) == 0)
        {
            // This poll is over (one-shot, or a multishot the kernel ended): arm a new one after dispatch.
            entry.InEpoll = false;
            entry.Interest = EpollFlags.None;
            if (c.Result < 0)
            {
                // EBADF and the like: the descriptor is gone from under the loop. Re-arming would fail the same way;
                // the next Register arms it again.
                return;
            }
            if (!entry.RearmQueued)
            {
                entry.RearmQueued = true;
                if (_rearmCount == _rearm.Length)
                {
                    Array.Resize(ref _rearm, _rearm.Length * 2);
                }
                _rearm[_rearmCount++] = fd;
            }
        }
        if (c.Result > 0)
        {
            CollectReady(fd, ref entry, (EpollFlags)c.Result, readByRing: WantsRingReceive(ref entry));
        }
    }

    /// <summary>After dispatch: a new poll for each fd whose poll ended this turn and that still has an interest.</summary>
    private void RearmPolls()
    {
        FdEntry[] fds = _fds;
        for (int i = 0; i < _rearmCount; i++)
        {
            int fd = _rearm[i];
            if ((uint)fd >= (uint)fds.Length)
            {
                continue;
            }
            ref FdEntry entry = ref fds[fd];
            entry.RearmQueued = false;
            // Handlers may have changed the interest meanwhile (which armed a poll already) or dropped it; this arms
            // what is still wanted and not armed, and does nothing for what is.
            UpdateInterest(fd, ref entry);
        }
        _rearmCount = 0;
    }
}
