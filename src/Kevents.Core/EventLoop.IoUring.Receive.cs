using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// Multishot receive on the io_uring backend. A Read registration that asks for it (ReceiveInRingFilterFlag, which
// Kevents.Net's StreamConnection sets) is served by one IORING_OP_RECV with IORING_RECV_MULTISHOT into the loop's
// provided-buffer ring instead of a readiness poll: the kernel picks a buffer per chunk, the completion becomes a
// Read kevent whose Data is the byte count (0 at the end of the stream, -errno with KeventFlags.Error on failure)
// and whose FilterFlags carry ReceivedFilterFlag, the handler reads the bytes from ReceivedBytes while it runs, and
// the loop gives the buffer back to the ring as soon as the handler returns.
//
// Disable (backpressure) cancels the receive. Bytes the kernel had already put into buffers are not lost: kevents
// for a registration that is disabled when their turn comes are kept, in order, with their buffers, and delivered
// first once it is enabled again; a new receive is armed only after the cancelled one posted its last completion, so
// nothing can overtake them. Bytes for a registration that was removed are dropped (the caller stopped reading).
public sealed partial class EventLoop
{
    /// <summary>In a Read kevent's FilterFlags at registration: on io_uring, receive into the loop's buffers (see above).</summary>
    internal const uint ReceiveInRingFilterFlag = 1u << 31;

    /// <summary>In a delivered Read kevent's FilterFlags: it carries bytes in <see cref="ReceivedBytes"/> (Data is their count).</summary>
    internal const uint ReceivedFilterFlag = 1u << 30;

    private const ulong RingKindRecv = 4UL << 56;
    private const ulong RingKindCancel = 5UL << 56;
    private const int ReceiveBufferSize = 8192;

    private IoUringBufferRing? _receiveBuffers;
    // False once the kernel refused a multishot receive (5.19 has buffer rings but not that): polls serve every Read.
    private bool _ringReceive;
    private readonly List<BatchEntry> _held = new();
    private bool _heldMayMove;
    private int _receivedBuffer = -1;
    private int _receivedLength;
    private long _receiveBuffersGrewAt = -1; // the turn (Iterations) of the last growth: at most one chunk per turn

    /// <summary>
    /// The flag a Read registration passes to receive through the ring where this loop can (io_uring, with provided
    /// buffer rings); 0 elsewhere, so the same registration code serves both backends.
    /// </summary>
    internal uint ReceiveInRingIfSupported => _ringReceive ? ReceiveInRingFilterFlag : 0;

    /// <summary>Kevents held for disabled registrations, for tests.</summary>
    internal int HeldCount => _held.Count;

    /// <summary>Receive buffers the loop has given the kernel so far (0 without a provided-buffer ring), for tests.</summary>
    internal int ReceiveBufferCount => _receiveBuffers?.Count ?? 0;

    /// <summary>The bytes of the Read kevent being delivered, when it carries <see cref="ReceivedFilterFlag"/>; valid until its handler returns.</summary>
    internal ReadOnlySpan<byte> ReceivedBytes =>
        _receivedBuffer < 0 ? default : _receiveBuffers!.Bytes((ushort)_receivedBuffer, _receivedLength);

    /// <summary>Registers the provided-buffer ring; without one (a kernel before 5.19) every Read stays a poll.</summary>
    private void StartReceiveBuffers()
    {
        if (IoUringBufferRing.Create(_uring!.RingFd, _options.IoUringReceiveBufferLimit, _options.IoUringReceiveBufferChunk,
                ReceiveBufferSize, group: 0, out IoUringBufferRing? buffers) == 0)
        {
            _receiveBuffers = buffers;
            _ringReceive = true;
        }
    }

    private static ulong RecvUserData(int fd, uint generation) => RingKindRecv | ((ulong)(generation & PollGenerationMask) << 32) | (uint)fd;

    /// <summary>Whether the fd's Read is served by a multishot receive now.</summary>
    private bool WantsRingReceive(ref FdEntry entry) =>
        _ringReceive && entry.Read.Active && (entry.Read.FilterFlags & ReceiveInRingFilterFlag) != 0;

    /// <summary>Arms or cancels the fd's multishot receive to match its Read slot. Returns 0 or -EBUSY.</summary>
    private int UpdateRecv(int fd, ref FdEntry entry)
    {
        if (entry.Recv != RecvState.Idle && entry.RecvIsAccept)
        {
            // A listener's accept still ends (CollectAccept); a receive is armed after its last completion.
            return 0;
        }
        bool wanted = WantsRingReceive(ref entry);
        if (wanted && entry.Recv == RecvState.Idle)
        {
            entry.RecvGeneration = (entry.RecvGeneration + 1) & PollGenerationMask;
            IoUringRing ring = _uring!;
            ulong userData = RecvUserData(fd, entry.RecvGeneration);
            if (!ring.PrepareRecvMultishot(fd, _receiveBuffers!.Group, userData)
                && !(FlushSubmissions() && ring.PrepareRecvMultishot(fd, _receiveBuffers.Group, userData)))
            {
                return -Errno.EBUSY;
            }
            entry.Recv = RecvState.Armed;
            entry.RecvIsAccept = false;
        }
        else if (!wanted && entry.Recv == RecvState.Armed)
        {
            IoUringRing ring = _uring!;
            ulong target = RecvUserData(fd, entry.RecvGeneration);
            if (ring.PrepareCancel(target, RingKindCancel) || (FlushSubmissions() && ring.PrepareCancel(target, RingKindCancel)))
            {
                entry.Recv = RecvState.Cancelling;
            }
        }
        // Cancelling and wanted again: the re-arm waits for the cancelled receive's last completion (CollectRecv).
        return 0;
    }

    private void CollectRecv(FdEntry[] fds, in IoUringCompletion c)
    {
        int fd = (int)(uint)c.UserData;
        uint generation = (uint)(c.UserData >> 32) & PollGenerationMask;
        int buffer = (c.Flags & IoUringAbi.CqeBuffer) != 0 ? IoUringBufferRing.BufferIdOf(c.Flags) + 1 : 0;
        if ((uint)fd >= (uint)fds.Length)
        {
            ReturnBuffer(buffer);
            return;
        }
        ref FdEntry entry = ref fds[fd];
        if (entry.Recv == RecvState.Idle || entry.RecvGeneration != generation)
        {
            ReturnBuffer(buffer);
            return;
        }
        if ((c.Flags & IoUringAbi.CqeMore) == 0)
        {
            // The receive is over (end of stream, an error, no free buffer, or cancelled): arm a new one after dispatch
            // if the Read still wants it.
            entry.Recv = RecvState.Idle;
            QueueRearm(fd, ref entry);
        }
        if (!entry.Read.Registered)
        {
            ReturnBuffer(buffer);
            return;
        }
        int result = c.Result;
        if (result == -Errno.ECANCELED || result == -Errno.ENOBUFS)
        {
            // Cancelled by Disable or Unregister; or every buffer is in use, and dispatch gives some back before the
            // re-arm. Neither is news for the handler.
            ReturnBuffer(buffer);
            if (result == -Errno.ENOBUFS)
            {
                GrowReceiveBuffers();
            }
            return;
        }
        if (result == -Errno.EINVAL && buffer == 0)
        {
            // A kernel with provided-buffer rings but no multishot receive (5.19): serve every Read by polls from now.
            _ringReceive = false;
            return;
        }
        KeventFlags flags = entry.Read.Flags;
        if (result == 0)
        {
            flags |= KeventFlags.Eof;
        }
        else if (result < 0)
        {
            flags |= KeventFlags.Error | KeventFlags.Eof;
        }
        Append(new Kevent((ulong)fd, KeventFilter.Read, flags, entry.Read.FilterFlags | ReceivedFilterFlag, result, entry.Read.UserData),
            entry.Read.Epoch, result > 0 ? buffer : -1);
        if (result <= 0)
        {
            ReturnBuffer(buffer);
        }
    }

    private void QueueRearm(int fd, ref FdEntry entry)
    {
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

    /// <summary>
    /// A receive found no free buffer: more connections had bytes waiting than the ring holds buffers (each completion
    /// keeps its buffer until the handler has it, and a turn takes in MaxEventsPerWait). Each such receive ends and
    /// waits a turn for its re-arm, so at 1000 busy connections on 512 buffers some waited many turns (a 68 ms p99
    /// against 10 ms on epoll). One chunk more per turn that saw it, up to the limit.
    /// </summary>
    private void GrowReceiveBuffers()
    {
        long turn = _metrics.Iterations;
        if (_receiveBuffersGrewAt == turn)
        {
            return;
        }
        _receiveBuffersGrewAt = turn;
        if (_receiveBuffers!.Grow())
        {
            Log.ReceiveBuffersGrown(_logger, _name, _receiveBuffers.Count, _receiveBuffers.Count * (long)ReceiveBufferSize / 1024);
        }
    }

    private void ReturnBuffer(int buffer)
    {
        if (buffer > 0)
        {
            _receiveBuffers?.Return((ushort)(buffer - 1));
        }
    }

    /// <summary>
    /// Delivers a kevent from a multishot receive (Buffer is the buffer plus one, or -1 for an end or an error without
    /// bytes). A registration that is disabled keeps it for later; one that is gone drops it.
    /// </summary>
    private void DispatchReceived(in BatchEntry batched, Span<Kevent> output, ref int written)
    {
        int fd = (int)batched.Kevent.Ident;
        if ((uint)fd >= (uint)_fds.Length)
        {
            Discard(batched);
            return;
        }
        ref FdSlot slot = ref _fds[fd].Read;
        if (!slot.Registered || slot.Epoch != batched.Epoch)
        {
            Discard(batched);
            return;
        }
        if (!slot.Enabled || _held.Count > 0 && HoldsFor(fd))
        {
            // Reading is paused: keep the bytes (and any end after them) in order until it resumes.
            _held.Add(batched);
            return;
        }
        KeventHandler? handler = slot.Handler;
        if (batched.Buffer > 0)
        {
            _receivedBuffer = batched.Buffer - 1;
            _receivedLength = (int)batched.Kevent.Data;
        }
        try
        {
            Deliver(batched.Kevent, handler, output, ref written);
        }
        finally
        {
            _receivedBuffer = -1;
            ReturnBuffer(batched.Buffer);
        }
    }

    private bool HoldsFor(int fd)
    {
        foreach (BatchEntry held in _held)
        {
            if ((int)held.Kevent.Ident == fd)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Start of collection: kevents held for registrations that are enabled again go first into the batch, in the
    /// order they arrived; those of registrations removed meanwhile give their buffers back.
    /// </summary>
    private void ReleaseHeld()
    {
        _heldMayMove = false;
        int kept = 0;
        for (int i = 0; i < _held.Count; i++)
        {
            BatchEntry held = _held[i];
            int fd = (int)held.Kevent.Ident;
            ref FdSlot slot = ref _fds[fd].Read;
            if (!slot.Registered || slot.Epoch != held.Epoch)
            {
                Discard(held);
            }
            else if (slot.Enabled && !HeldBefore(fd, kept))
            {
                Append(held.Kevent, held.Epoch, held.Buffer);
            }
            else
            {
                _held[kept++] = held;
            }
        }
        _held.RemoveRange(kept, _held.Count - kept);
    }

    // True when an earlier entry of the same fd is still held (the first `kept` entries are the ones kept so far).
    private bool HeldBefore(int fd, int kept)
    {
        for (int i = 0; i < kept; i++)
        {
            if ((int)_held[i].Kevent.Ident == fd)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Called when a Read registration is enabled or removed: held kevents may move at the next collection.</summary>
    private void NoteHeldMayMove()
    {
        if (_held.Count > 0)
        {
            _heldMayMove = true;
        }
    }
}
