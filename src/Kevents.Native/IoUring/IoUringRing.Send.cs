namespace Kevents.Native;

// Sends through the ring: the event loop prepares one per connection with output during a turn, and the turn's single
// io_uring_enter submits them all with its wait.
internal sealed unsafe partial class IoUringRing
{
    private const uint MsgNoSignal = 0x4000;

    /// <summary>
    /// Prepares send(<paramref name="fd"/>, <paramref name="buffer"/>, <paramref name="length"/>, MSG_NOSIGNAL)
    /// (IORING_OP_SEND, 5.6). The completion's result is the byte count the kernel took (possibly fewer than asked:
    /// a stream socket's send returns after its first progress) or -errno (-EPIPE, -ECONNRESET, -ECANCELED). The
    /// caller keeps the bytes pinned and unchanged until that completion is reaped. False when the submission queue is full.
    /// </summary>
    public bool PrepareSend(int fd, nint buffer, int length, ulong userData)
    {
        SqeView* sqe = (SqeView*)NextEntry(IoUringOpcode.Send, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        sqe->Addr = (ulong)buffer;
        sqe->Len = (uint)length;
        // MSG_NOSIGNAL: a peer that is gone is -EPIPE in the completion, never SIGPIPE. No MSG_WAITALL (a partial send
        // completes, and the caller sends the rest) and no POLL_FIRST (most sends find room in the socket at once).
        sqe->OpFlags = MsgNoSignal;
        return true;
    }
}
