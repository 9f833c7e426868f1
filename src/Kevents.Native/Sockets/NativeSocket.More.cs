using Tmds.Linux;

namespace Kevents.Native;

// Sending a part of a message that more data will follow (headers before a sendfile body).
internal static unsafe partial class NativeSocket
{
    private const int MsgMore = 0x8000; // MSG_MORE, linux/socket.h

    /// <summary>
    /// Sends like <see cref="Send(int, ReadOnlySpan{byte})"/>; with <paramref name="more"/> the kernel holds a short segment back (MSG_MORE)
    /// because the caller sends the rest at once, so headers and the start of a body leave in one packet. Returns
    /// bytes sent (possibly fewer), or -errno; EINTR is retried.
    /// </summary>
    public static long Send(int fd, ReadOnlySpan<byte> buffer, bool more)
    {
        int flags = MsgNoSignal | (more ? MsgMore : 0);
        // Safety: the span is pinned for the call and bounds the kernel's read.
        fixed (byte* p = buffer)
        {
            return Sys.Retry(FaultSite.Send, fd, buffer.Length, new SendCall(fd, p, flags));
        }
    }
}
