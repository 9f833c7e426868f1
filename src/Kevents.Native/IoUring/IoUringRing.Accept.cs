using Tmds.Linux;

namespace Kevents.Native;

// Multishot accept for an event loop whose ring is its poller: one request per listener that stays armed and posts a
// completion per connection it accepted, its result the new descriptor (already open in this process) or -errno.
internal sealed unsafe partial class IoUringRing
{
    /// <summary>
    /// Prepares a multishot accept on the listening socket <paramref name="fd"/> (IORING_OP_ACCEPT with
    /// IORING_ACCEPT_MULTISHOT, Linux 5.19). Every descriptor it accepts is opened SOCK_NONBLOCK | SOCK_CLOEXEC, as
    /// <see cref="NativeSocket.Accept"/>'s are. Each completion but the last carries <see cref="IoUringAbi.CqeMore"/>;
    /// an error (EMFILE, a cancel) ends the request. False when the submission queue is full.
    /// </summary>
    public bool PrepareAcceptMultishot(int fd, ulong userData)
    {
        SqeView* sqe = (SqeView*)NextEntry(IoUringOpcode.Accept, fd, userData);
        if (sqe == null)
        {
            return false;
        }
        // addr and addr2 (the peer's address and its length) stay null: connections ask for their peer when needed.
        sqe->IoPrio = IoUringAbi.AcceptMultishot;
        sqe->OpFlags = (uint)(LibC.SOCK_NONBLOCK | LibC.SOCK_CLOEXEC);
        return true;
    }

    /// <summary>
    /// The result of an accept completion for the listener <paramref name="listenerFd"/> as the caller should take it:
    /// <paramref name="result"/> itself (a descriptor the caller now owns, or -errno), or, under a fault plan at
    /// <see cref="FaultSite.RingAccept"/>, the injected -errno, the accepted descriptor then closed here.
    /// </summary>
    public static int TakeAccepted(int listenerFd, int result)
    {
        if (result >= 0 && FaultInjection.Fails(FaultSite.RingAccept, listenerFd, out int fault))
        {
            Io.Close(result);
            return -fault;
        }
        return result;
    }
}
