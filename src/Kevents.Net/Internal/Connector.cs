using System.Net;
using System.Net.Sockets;
using Kevents.Native;

namespace Kevents.Net.Internal;

/// <summary>
/// One outgoing connect on the loop: a non-blocking connect, a one-shot Write kevent for its completion, and a loop
/// timer for its timeout. Completes exactly once: connected, failed, timed out, or cancelled.
/// </summary>
internal sealed class Connector<TConnection> : ILoopTimerTarget where TConnection : Connection
{
    private readonly EventLoop _loop;
    private readonly EndPoint _endPoint;
    private readonly Func<FileDescriptor, TConnection> _create;
    private readonly TaskCompletionSource<TConnection> _result;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _cancellation;
    private CancellationTokenRegistration _cancelRegistration;
    private FileDescriptor? _socket;
    private LoopTimer _timer;

    // resumeOffLoop: the caller is not on the loop thread, so its continuations must not run inline where the loop
    // completes the task (a continuation that blocks there would stall every connection of the loop). A caller on
    // the loop resumes there without a detour.
    public Connector(EventLoop loop, EndPoint endPoint, TimeSpan timeout, CancellationToken cancellation, Func<FileDescriptor, TConnection> create,
        bool resumeOffLoop)
    {
        _result = new(resumeOffLoop ? TaskCreationOptions.RunContinuationsAsynchronously : TaskCreationOptions.None);
        _loop = loop;
        _endPoint = endPoint;
        _timeout = timeout;
        _cancellation = cancellation;
        _create = create;
    }

    public Task<TConnection> Task => _result.Task;

    public void Start()
    {
        if (_cancellation.IsCancellationRequested)
        {
            _result.TrySetCanceled(_cancellation);
            return;
        }
        int rc = NativeSocket.Create(_endPoint.AddressFamily, SocketType.Stream, out _socket);
        if (rc < 0)
        {
            _result.TrySetException(NetErrors.ToSocketException(rc, $"Cannot create a socket to connect to {NetErrors.Describe(_endPoint)}"));
            return;
        }
        rc = NativeSocket.Connect(_socket!.Fd, _endPoint);
        if (rc == 0)
        {
            Succeed();
            return;
        }
        if (rc != -Errno.EINPROGRESS && rc != -Errno.EAGAIN)
        {
            Fail(NetErrors.ToSocketException(rc, $"Cannot connect to {NetErrors.Describe(_endPoint)}"));
            return;
        }
        _loop.Register(Kevent.Write(_socket.Fd, flags: KeventFlags.Oneshot), OnWritable);
        long timeoutNs = Durations.ToNanoseconds(_timeout);
        if (timeoutNs != Durations.Never)
        {
            _timer = _loop.StartTimer(timeoutNs, this);
        }
        if (_cancellation.CanBeCanceled)
        {
            _cancelRegistration = _cancellation.Register(static s =>
            {
                var self = (Connector<TConnection>)s!;
                self._loop.Post(static c => ((Connector<TConnection>)c!).Cancel(), self);
            }, this);
        }
    }

    private void OnWritable(in Kevent ev)
    {
        if (_socket is null)
        {
            return;
        }
        // The loop has already read (and so cleared) SO_ERROR when epoll reported an error: it is in the kevent.
        int error = ev.IsError ? (int)-ev.Data : NativeSocket.GetError(_socket.Fd);
        if (error == 0)
        {
            Succeed();
            return;
        }
        Fail(NetErrors.ToSocketException(error > 0 ? -error : error, $"Cannot connect to {NetErrors.Describe(_endPoint)}"));
    }

    void ILoopTimerTarget.OnTimer()
    {
        _timer = default;
        Fail(new TimeoutException($"Connecting to {NetErrors.Describe(_endPoint)} took longer than {_timeout}."));
    }

    private void Cancel()
    {
        if (_socket is not null)
        {
            Cleanup();
            _result.TrySetCanceled(_cancellation);
        }
    }

    private void Succeed()
    {
        FileDescriptor socket = _socket!;
        _loop.StopTimer(ref _timer);
        _cancelRegistration.Dispose();
        _socket = null;
        TConnection connection;
        try
        {
            connection = _create(socket);
        }
        catch (Exception ex)
        {
            socket.Dispose();
            _result.TrySetException(ex);
            return;
        }
        _result.TrySetResult(connection);
    }

    private void Fail(Exception error)
    {
        Cleanup();
        _result.TrySetException(error);
    }

    private void Cleanup()
    {
        _loop.StopTimer(ref _timer);
        _cancelRegistration.Dispose();
        if (_socket is not null)
        {
            _loop.Unregister((ulong)_socket.Fd, KeventFilter.Write);
            _socket.Dispose();
            _socket = null;
        }
    }
}
