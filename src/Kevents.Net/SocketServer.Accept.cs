using Kevents.Internal;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

// Accepting: bounded batches per turn, the connection limit, and descriptor exhaustion.
//
// EMFILE/ENFILE: a listener whose backlog holds connections stays readable, so retrying at once would spin the
// loop. Instead (libuv's and nginx's approach) the server keeps one spare descriptor: it closes the spare, accepts
// and closes pending connections with the freed slot (those clients see a clean close instead of hanging), reopens
// the spare, and pauses accepting for ServerOptions.DescriptorExhaustionPause before trying again.
public sealed partial class SocketServer : ILoopTimerTarget
{
    private const int MaxShedPerExhaustion = 64;

    private readonly KeventHandler _onAcceptable;
    private FileDescriptor? _spare;
    private LoopTimer _resumeTimer;
    private long _lastExhaustionLogNs = long.MinValue / 2; // "long ago" without overflowing the subtraction below

    private void OnAcceptable(in Kevent ev)
    {
        for (int i = 0; i < _options.AcceptsPerTurn && _listener is not null; i++)
        {
            int fd = NativeSocket.Accept(_listener.Fd);
            if (fd >= 0)
            {
                OnAccepted(fd);
                continue;
            }
            if (fd == -Errno.EAGAIN)
            {
                return;
            }
            if (fd == -Errno.EMFILE || fd == -Errno.ENFILE)
            {
                OnDescriptorsExhausted(fd);
                return;
            }
            NetLog.AcceptFailed(Logger, NetErrors.Describe(LocalEndPoint), Errno.Describe(fd));
            return;
        }
    }

    private void OnAccepted(int fd)
    {
        if (_connectionCount >= _maxConnections)
        {
            TotalRejected++;
            if (!_options.RejectMessage.IsEmpty)
            {
                NativeSocket.Send(fd, _options.RejectMessage.Span);
            }
            Io.Close(fd);
            NetLog.ConnectionRejected(Logger, NetErrors.Describe(LocalEndPoint), _maxConnections);
            return;
        }
        var socket = new FileDescriptor(fd);
        if (_isTcp && _options.Connection.NoDelay)
        {
            NativeSocket.SetNoDelay(fd, true);
        }
        if (_streamHandler is not null)
        {
            var connection = new StreamConnection(_loop, socket, _options.Connection, this, _streamHandler, _readBuffer);
            Track(connection);
            connection.Begin();
        }
        else
        {
            var connection = new PipeConnection(_loop, socket, _options.Connection, this);
            Track(connection);
            connection.Begin(_pipeApplication);
        }
    }

    private void OnDescriptorsExhausted(int error)
    {
        int shed = 0;
        if (_spare is not null)
        {
            _spare.Dispose();
            _spare = null;
            while (shed < MaxShedPerExhaustion)
            {
                int fd = NativeSocket.Accept(_listener!.Fd);
                if (fd < 0)
                {
                    break;
                }
                Io.Close(fd);
                shed++;
            }
            _spare = OpenSpare();
        }
        TotalRejected += shed;

        // Pause: no readiness for the listener until the timer re-enables it.
        _loop.Disable((ulong)_listener!.Fd, KeventFilter.Read);
        _resumeTimer = _loop.StartTimer(Durations.ToNanoseconds(_options.DescriptorExhaustionPause), this);

        long now = _loop.NowNanoseconds;
        if (now - _lastExhaustionLogNs >= 1_000_000_000)
        {
            _lastExhaustionLogNs = now;
            NetLog.DescriptorsExhausted(Logger, Errno.Describe(error), NetErrors.Describe(LocalEndPoint), shed,
                (long)_options.DescriptorExhaustionPause.TotalMilliseconds);
        }
    }

    void ILoopTimerTarget.OnTimer()
    {
        _resumeTimer = default;
        if (_listener is null)
        {
            return;
        }
        _spare ??= OpenSpare();
        _loop.Enable((ulong)_listener.Fd, KeventFilter.Read);
    }

    private static FileDescriptor? OpenSpare()
    {
        // Any descriptor will do as the reserve; an eventfd needs no path and no permissions.
        return EventFd.Create(out FileDescriptor? spare) == 0 ? spare : null;
    }

    /// <summary>Whether the server holds its reserve descriptor (false only while descriptors are exhausted).</summary>
    internal bool HasSpareDescriptor => _spare is not null;
}
