using Kevents.Native;

namespace Kevents.Net;

// Direct output for applications that send without the queue (SendDirect with MSG_MORE, SendFile), beside or
// instead of Write; and the hooks for those that send on Descriptor themselves.
//
// Protocol: NotifyWritable registers the Write filter with its own handler and marks the filter as registered,
// so CloseSocket removes it like any other (no handler runs after close, and the slot is clean before the fd
// number can be reused). The raw wait and the connection's own queue never hold the filter at once: a raw
// wait is refused while the queue is being flushed, and a Write that queues bytes while a raw wait is pending
// gets its flush re-armed when the raw wait fires.
public abstract partial class Connection
{
    private bool _rawWritablePending;

    /// <summary>
    /// Calls <paramref name="callback"/> once, on the loop thread, when the socket can take more bytes (or has
    /// failed: the next send then reports the error). For applications that send on <see cref="Descriptor"/>
    /// themselves, e.g. with sendfile. If the connection closes first the callback never runs. Loop thread only.
    /// </summary>
    /// <remarks>
    /// While the wait lasts the peer is held to <see cref="ConnectionOptions.MinResponseDataRate"/>, counting the bytes
    /// reported with <see cref="ReportSent"/>; a callback that sends without waiting again ends the measurement.
    /// </remarks>
    /// <returns>False when the connection is closed, or its own queued output is being flushed (wait for that first).</returns>
    public bool NotifyWritable(Action<Connection> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        if (IsClosed || (_writeRegistered && !_rawWritablePending))
        {
            return false;
        }
        Extras.WritableCallback = callback;
        if (_rawWritablePending)
        {
            return true;
        }
        _rawWritablePending = true;
        _writeRegistered = true;
        // The loop's shared Write handler: it routes here while the raw wait is pending (OnWritableGuarded).
        _loop.Register(Kevent.Write(_socket!.Fd), _net.OnWritable);
        BeginOutputStall();
        return true;
    }

    /// <summary>
    /// Records <paramref name="bytes"/> the application sent on <see cref="Descriptor"/> itself: they count in
    /// <see cref="BytesWritten"/> and as activity for the idle timeout. Loop thread only.
    /// </summary>
    public void ReportSent(long bytes)
    {
        if (bytes > 0)
        {
            BytesWritten += bytes;
            MarkActive();
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> on the socket now, without the connection's output queue, and counts what the
    /// kernel took as <see cref="ReportSent"/> does. With <paramref name="more"/> the kernel holds a short segment
    /// back (MSG_MORE) because the rest follows at once, e.g. response headers before a <see cref="SendFile"/> body,
    /// so both leave in one packet. Loop thread only.
    /// </summary>
    /// <remarks>
    /// Direct output is for connections whose application sends its own way (a <see cref="StreamConnection"/> that does
    /// not <see cref="StreamConnection.Write"/> at the same time); bytes written to a <see cref="PipeConnection"/>'s
    /// <c>Output</c> and not yet flushed would be overtaken, so do not mix the two there.
    /// </remarks>
    /// <returns>
    /// Bytes sent (possibly fewer than <paramref name="data"/>'s length), or -errno: -EAGAIN when the socket is full
    /// (wait with <see cref="NotifyWritable"/>), -EPIPE or -ECONNRESET when the peer is gone, -EBADF when the
    /// connection is closed, -EBUSY while the connection's own queued output is being flushed (direct bytes would
    /// overtake it).
    /// </returns>
    public long SendDirect(ReadOnlySpan<byte> data, bool more = false)
    {
        int refused = DirectSendRefusal();
        if (refused != 0)
        {
            return refused;
        }
        long sent = NativeSocket.Send(_socket!.Fd, data, more);
        ReportSent(sent);
        return sent;
    }

    /// <summary>
    /// Copies up to <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/> to the
    /// socket inside the kernel (sendfile), advancing <paramref name="offset"/> by what was sent and counting it as
    /// <see cref="ReportSent"/> does. The file's own position is left alone. Loop thread only.
    /// </summary>
    /// <remarks>
    /// The kernel reads the file's pages in this thread: a page-cache miss waits for the disk. A server that must
    /// never wait checks with <see cref="FileDescriptor.Read"/> and <c>noWait</c>, or sends from a threadlet.
    /// </remarks>
    /// <returns>
    /// Bytes sent, 0 when <paramref name="offset"/> is at (or past) the end of the file, or -errno as for
    /// <see cref="SendDirect"/>; -EBADF also when <paramref name="file"/> is disposed.
    /// </returns>
    public long SendFile(FileDescriptor file, ref long offset, int count)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int refused = DirectSendRefusal();
        if (refused != 0)
        {
            return refused;
        }
        long sent = SendFileGuarded(_socket!.Fd, file, ref offset, count);
        ReportSent(sent);
        return sent;
    }

    /// <summary>
    /// sendfile from <paramref name="file"/> to <paramref name="sinkFd"/> under a reference on the file's handle, so
    /// another thread disposing it cannot free its number for reuse while the kernel reads from it. Any thread;
    /// -EBADF when the file is already disposed. Shared with Kevents.Http, which warms cold files from a threadlet.
    /// </summary>
    internal static long SendFileGuarded(int sinkFd, FileDescriptor file, ref long offset, int count)
    {
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return -Errno.EBADF;
        }
        try
        {
            return NativeFile.SendFile(sinkFd, file.Fd, ref offset, count);
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>0 when a direct send may go now; otherwise the -errno that says why not.</summary>
    private int DirectSendRefusal()
    {
        if (_socket is null)
        {
            return -Errno.EBADF;
        }
        if ((_writeRegistered && !_rawWritablePending) || this is StreamConnection { QueuedOutput: > 0 })
        {
            return -Errno.EBUSY;
        }
        return 0;
    }

    /// <summary>
    /// Stops reading the socket until <see cref="ResumeInput"/>, for applications that must bound what a peer may
    /// send ahead (pipelined requests while a response is in flight). Loop thread only.
    /// </summary>
    public void PauseInput() => PauseReading();

    /// <summary>Resumes reading after <see cref="PauseInput"/>. Loop thread only.</summary>
    public void ResumeInput() => ResumeReading();

    private void OnRawWritable(in Kevent ev)
    {
        if (!_rawWritablePending || _socket is null)
        {
            return;
        }
        _rawWritablePending = false;
        _writeRegistered = false;
        _loop.Unregister((ulong)_socket.Fd, KeventFilter.Write);
        if (this is StreamConnection { QueuedOutput: > 0 })
        {
            // Write queued bytes while we held the filter: hand it back so the queue drains.
            WatchWritable(true);
        }
        Action<Connection>? callback = _extra?.WritableCallback;
        if (callback is not null)
        {
            _extra!.WritableCallback = null;
        }
        try
        {
            callback?.Invoke(this);
        }
        catch (Exception ex)
        {
            // The application's callback failed: that connection ends, the loop goes on.
            Internal.NetLog.ApplicationFailed(_logger, Id, ex);
            AbortNow("the application's writable callback failed", deferNotification: false);
            return;
        }
        if (!_writeRegistered)
        {
            // The callback sent what it had without waiting again, and no queue waits either: the stall is over.
            EndOutputStall();
        }
    }
}
