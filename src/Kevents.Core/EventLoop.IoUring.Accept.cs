using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// Multishot accept on the io_uring backend. A Read registration of a listening socket that asks for it
// (AcceptInRingFilterFlag, which Kevents.Net's SocketServer sets) is served by one IORING_OP_ACCEPT with
// IORING_ACCEPT_MULTISHOT instead of a readiness poll: the kernel accepts each connection as it arrives (SOCK_NONBLOCK |
// SOCK_CLOEXEC) and posts its descriptor; the completion becomes a Read kevent whose FilterFlags carry
// AcceptedFilterFlag and whose Data is the new descriptor, which the handler then owns (or -errno with
// KeventFlags.Error, after which the kernel has ended the accept).
//
// The accepted descriptors are real: none may be lost. A completion for a registration that is gone (Unregister, or
// the loop's disposal) has its descriptor closed here; one for a registration that is disabled is held, like received
// bytes, and delivered when it is enabled again. Disable and Unregister cancel the accept (ASYNC_CANCEL), and a
// completion without IORING_CQE_F_MORE (an error, EMFILE included, or the kernel's own end) re-arms it after dispatch
// if the registration still wants it. The state rides in the fd's receive fields (a listener never receives).
public sealed partial class EventLoop
{
    /// <summary>In a Read kevent's FilterFlags at registration: on io_uring, accept connections in the ring (see above).</summary>
    internal const uint AcceptInRingFilterFlag = 1u << 29;

    /// <summary>In a delivered Read kevent's FilterFlags: Data is a descriptor the ring accepted (the handler owns it) or -errno.</summary>
    internal const uint AcceptedFilterFlag = 1u << 28;

    private const ulong RingKindAccept = 6UL << 56;

    // False on kernels without multishot accept (before 5.19), or once one refused it: polls serve listeners.
    private bool _ringAccept;
    private bool _ringAcceptWorked;

    /// <summary>
    /// The flag a listener's Read registration passes to accept through the ring where this loop can (io_uring on 5.19
    /// or later); 0 elsewhere, so the same registration code serves both backends.
    /// </summary>
    internal uint AcceptInRingIfSupported => _ringAccept ? AcceptInRingFilterFlag : 0;

    private void StartRingAccept()
    {
        // IORING_OP_SOCKET came in the same release as IORING_ACCEPT_MULTISHOT; the probe cannot ask for a flag.
        _ringAccept = _uring!.Supports(IoUringOpcode.Accept) && _uring.Supports(IoUringOpcode.Socket);
    }

    private static ulong AcceptUserData(int fd, uint generation) => RingKindAccept | ((ulong)(generation & PollGenerationMask) << 32) | (uint)fd;

    private bool WantsRingAccept(ref FdEntry entry) =>
        _ringAccept && entry.Read.Active && (entry.Read.FilterFlags & AcceptInRingFilterFlag) != 0;

    /// <summary>Arms or cancels the listener's multishot accept to match its Read slot. Returns 0 or -EBUSY.</summary>
    private int UpdateAccept(int fd, ref FdEntry entry)
    {
        if (entry.Recv != RecvState.Idle && !entry.RecvIsAccept)
        {
            // A receive of the fd's previous life is still ending; CollectRecv re-arms after its last completion.
            return 0;
        }
        bool wanted = WantsRingAccept(ref entry);
        IoUringRing ring = _uring!;
        if (wanted && entry.Recv == RecvState.Idle)
        {
            entry.RecvGeneration = (entry.RecvGeneration + 1) & PollGenerationMask;
            ulong userData = AcceptUserData(fd, entry.RecvGeneration);
            if (!ring.PrepareAcceptMultishot(fd, userData) && !(FlushSubmissions() && ring.PrepareAcceptMultishot(fd, userData)))
            {
                return -Errno.EBUSY;
            }
            entry.Recv = RecvState.Armed;
            entry.RecvIsAccept = true;
        }
        else if (!wanted && entry.Recv == RecvState.Armed)
        {
            ulong target = AcceptUserData(fd, entry.RecvGeneration);
            if (ring.PrepareCancel(target, RingKindCancel) || (FlushSubmissions() && ring.PrepareCancel(target, RingKindCancel)))
            {
                entry.Recv = RecvState.Cancelling;
            }
        }
        // Cancelling and wanted again: the re-arm waits for the cancelled accept's last completion (CollectAccept).
        return 0;
    }

    private void CollectAccept(FdEntry[] fds, in IoUringCompletion c)
    {
        int fd = (int)(uint)c.UserData;
        uint generation = (uint)(c.UserData >> 32) & PollGenerationMask;
        int result = IoUringRing.TakeAccepted(fd, c.Result);
        if ((uint)fd >= (uint)fds.Length)
        {
            CloseAccepted(result);
            return;
        }
        ref FdEntry entry = ref fds[fd];
        if (entry.Recv == RecvState.Idle || !entry.RecvIsAccept || entry.RecvGeneration != generation)
        {
            CloseAccepted(result);
            return;
        }
        if ((c.Flags & IoUringAbi.CqeMore) == 0)
        {
            // The accept is over (an error, a cancel, or the kernel ended it): arm a new one after dispatch if the Read
            // still wants it.
            entry.Recv = RecvState.Idle;
            QueueRearm(fd, ref entry);
        }
        if (!entry.Read.Registered)
        {
            CloseAccepted(result);
            return;
        }
        if (result == -Errno.ECANCELED)
        {
            return;
        }
        if (result == -Errno.EINVAL && !_ringAcceptWorked)
        {
            // A kernel whose accept takes no multishot flag although the probe suggested it: polls from now on.
            _ringAccept = false;
            return;
        }
        if (result >= 0)
        {
            _ringAcceptWorked = true;
        }
        KeventFlags flags = entry.Read.Flags;
        if (result < 0)
        {
            flags |= KeventFlags.Error;
        }
        // Buffer -1: delivered through DispatchReceived, which holds it while the registration is disabled and closes
        // the descriptor when the registration is gone.
        Append(new Kevent((ulong)fd, KeventFilter.Read, flags, entry.Read.FilterFlags | AcceptedFilterFlag, result, entry.Read.UserData),
            entry.Read.Epoch, -1);
    }

    private static void CloseAccepted(int result)
    {
        if (result >= 0)
        {
            Io.Close(result);
        }
    }

    /// <summary>A batched or held kevent that will not be delivered: its buffer goes back, its accepted descriptor is closed.</summary>
    private void Discard(in BatchEntry entry)
    {
        ReturnBuffer(entry.Buffer);
        if ((entry.Kevent.FilterFlags & AcceptedFilterFlag) != 0)
        {
            CloseAccepted((int)entry.Kevent.Data);
        }
    }

    /// <summary>
    /// Before the ring is closed: cancels the accepts still armed and reaps until they ended, closing every descriptor
    /// they accepted meanwhile (and those held for disabled listeners), so disposing a loop leaves none open. Bounded in
    /// time: a kernel that does not answer leaves the ring's teardown to finish them.
    /// </summary>
    private void DrainRingAccepts()
    {
        IoUringRing? ring = _uring;
        if (ring is null)
        {
            return;
        }
        foreach (BatchEntry held in _held)
        {
            Discard(held);
        }
        _held.Clear();
        int live = 0;
        FdEntry[] fds = _fds;
        for (int fd = 0; fd < fds.Length; fd++)
        {
            ref FdEntry entry = ref fds[fd];
            if (entry.Recv == RecvState.Idle || !entry.RecvIsAccept)
            {
                continue;
            }
            live++;
            if (entry.Recv == RecvState.Armed)
            {
                ulong target = AcceptUserData(fd, entry.RecvGeneration);
                if (ring.PrepareCancel(target, RingKindCancel) || (FlushSubmissions() && ring.PrepareCancel(target, RingKindCancel)))
                {
                    entry.Recv = RecvState.Cancelling;
                }
            }
        }
        if (live == 0)
        {
            return;
        }
        long deadline = ReadClock() + 1_000_000_000;
        while (live > 0 && ReadClock() < deadline)
        {
            ring.SubmitAndWait(50_000_000);
            while (ring.TryReap(out IoUringCompletion c))
            {
                if ((c.UserData & RingKindMask) == RingKindRecv)
                {
                    // Its buffer is about to be freed with the ring; nothing to give back.
                    continue;
                }
                if ((c.UserData & RingKindMask) != RingKindAccept)
                {
                    continue;
                }
                CloseAccepted(c.Result);
                int fd = (int)(uint)c.UserData;
                if ((c.Flags & IoUringAbi.CqeMore) == 0 && (uint)fd < (uint)fds.Length && fds[fd].RecvIsAccept && fds[fd].Recv != RecvState.Idle
                    && fds[fd].RecvGeneration == ((uint)(c.UserData >> 32) & PollGenerationMask))
                {
                    fds[fd].Recv = RecvState.Idle;
                    live--;
                }
            }
        }
    }
}
