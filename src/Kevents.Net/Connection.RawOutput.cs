namespace Kevents.Net;

// Hooks for applications that send on Descriptor themselves (sendfile, MSG_MORE), beside or instead of Write.
//
// Protocol: NotifyWritable registers the Write filter with its own handler and marks the filter as registered,
// so CloseSocket removes it like any other (no handler runs after close, and the slot is clean before the fd
// number can be reused). The raw wait and the connection's own queue never hold the filter at once: a raw
// wait is refused while the queue is being flushed, and a Write that queues bytes while a raw wait is pending
// gets its flush re-armed when the raw wait fires.
public abstract partial class Connection
{
    private KeventHandler? _onRawWritable;
    private Action<Connection>? _writableCallback;
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
        _writableCallback = callback;
        if (_rawWritablePending)
        {
            return true;
        }
        _onRawWritable ??= OnRawWritable;
        _rawWritablePending = true;
        _writeRegistered = true;
        _loop.Register(Kevent.Write(_socket!.Fd), _onRawWritable);
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
        Action<Connection>? callback = _writableCallback;
        _writableCallback = null;
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
