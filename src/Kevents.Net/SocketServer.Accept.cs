using Kevents.Native;
using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Net;

// Accepting: bounded batches per turn, the connection limit, descriptor headroom, and accept failures.
//
// Headroom: a process that reaches RLIMIT_NOFILE can die of it (the runtime needs descriptors to start a thread,
// and aborts when it cannot get them), so the server never takes the last ones. It counts how many descriptor
// numbers are still free in the whole process (ProcessLimits.CountFreeDescriptors, which sees the runtime's and the
// application's descriptors as well as connections) and sheds new connections, accepting and closing them at once,
// while fewer than ServerOptions.DescriptorReserve would be left. Counting costs two system calls per free number,
// so one count is spent over a budget of accepts (at most ProbeSpan, at most ProbeMaxAgeNs old); whatever the rest of
// the process opens in between comes out of the reserve.
//
// EMFILE/ENFILE (the last resort, when something else used the reserve up): a listener whose backlog holds
// connections stays readable, so retrying at once would spin the loop. Instead (libuv's and nginx's approach) the
// server keeps one spare descriptor: it closes the spare, accepts and closes pending connections with the freed slot
// (those clients see a clean close instead of hanging), reopens the spare, and pauses accepting for
// ServerOptions.DescriptorExhaustionPause before trying again.
//
// Other failures of the listener itself (ENOBUFS, ENOMEM, EPERM from a firewall, anything unexpected) would repeat on
// every turn of a level-triggered listener: they pause accepting the same way, with a log line at most once a second.
// Failures that belong to one pending connection (EPROTO and the network errors accept(2) passes on from it) only
// lose that connection: the next one is accepted at once.
public sealed partial class SocketServer : ILoopTimerTarget
{
    private const int MaxShedPerExhaustion = 64;
    private const long ProbeMaxAgeNs = 250_000_000;
    private const long ShedRecheckNs = 20_000_000;
    private const long LogIntervalNs = 1_000_000_000;

    private readonly KeventHandler _onAcceptable;
    private int _descriptorReserve = -1; // set on first use from the options and the limit then in force
    private FileDescriptor? _spare;
    private LoopTimer _resumeTimer;
    private int _acceptBudget;
    private bool _outOfHeadroom; // the last count found fewer free descriptors than the reserve
    private long _probedAtNs = long.MinValue / 2;
    private long _shedSinceLog;
    private long _lastShedLogNs = long.MinValue / 2;
    private long _lastExhaustionLogNs = long.MinValue / 2; // "long ago" without overflowing the subtraction below
    private long _lastAcceptFailureLogNs = long.MinValue / 2;

    /// <summary>Most accepts one count of free descriptors is spent over (settable for tests).</summary>
    internal int ProbeSpan { get; set; } = 512;

    /// <summary>Connections accepted and closed at once because too few descriptors were left (part of <see cref="TotalRejected"/>).</summary>
    internal long TotalShedForDescriptors { get; private set; }

    private void OnAcceptable(in Kevent ev)
    {
        if ((ev.FilterFlags & EventLoop.AcceptedFilterFlag) != 0)
        {
            // io_uring: the ring accepted one connection (or failed); see SocketServer.RingAccept.cs.
            OnRingAccepted((int)ev.Data);
            return;
        }
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
            if (IsPendingConnectionError(fd))
            {
                // That connection is lost, the listener is fine: go on with the next one (within this turn's batch).
                NetLog.PendingConnectionFailed(Logger, NetErrors.Describe(LocalEndPoint), Errno.Describe(fd));
                continue;
            }
            OnAcceptFailed(fd);
            return;
        }
    }

    // accept(2): Linux passes network errors already pending on the new connection to accept, and asks callers to
    // treat them like EAGAIN. ECONNABORTED and EINTR are retried by NativeSocket.Accept already.
    private static bool IsPendingConnectionError(int error) =>
        -error is Errno.EPROTO or Errno.ENOPROTOOPT or Errno.ENETDOWN or Errno.ENONET or Errno.EHOSTDOWN or Errno.EHOSTUNREACH or Errno.ENETUNREACH
            or Errno.EOPNOTSUPP or Errno.ECONNABORTED or Errno.EINTR;

    private void OnAccepted(int fd)
    {
        if (Handoff is { } handoff)
        {
            // The group's acceptor: the connection is served on the loop the group picks, which applies the limits.
            handoff(fd);
            return;
        }
        if (_connectionCount >= _maxConnections)
        {
            TotalRejected++;
            Refuse(fd);
            NetLog.ConnectionRejected(Logger, NetErrors.Describe(LocalEndPoint), _maxConnections);
            return;
        }
        if (!KeepsDescriptorReserve(fd))
        {
            TotalRejected++;
            TotalShedForDescriptors++;
            Refuse(fd);
            LogShed();
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

    private void Refuse(int fd)
    {
        if (!_options.RejectMessage.IsEmpty)
        {
            NativeSocket.Send(fd, _options.RejectMessage.Span);
        }
        Io.Close(fd);
    }

    /// <summary>
    /// Whether the connection just accepted may stay open: true while the process still has the reserve free
    /// besides it. Counts free descriptors when the budget of the last count is spent or the count is old.
    /// </summary>
    private bool KeepsDescriptorReserve(int anyOpenFd)
    {
        if (_descriptorReserve < 0)
        {
            _descriptorReserve = _options.EffectiveDescriptorReserve(ProcessLimits.OpenFilesLimit());
        }
        if (_descriptorReserve == 0)
        {
            return true;
        }
        long now = _loop.NowNanoseconds;
        long age = now - _probedAtNs;
        if (_acceptBudget > 0 && age < ProbeMaxAgeNs)
        {
            _acceptBudget--;
            return true;
        }
        if (_outOfHeadroom && age < ShedRecheckNs)
        {
            // Counted a moment ago and found no room: shed without counting again for every pending connection.
            return false;
        }
        int free = ProcessLimits.CountFreeDescriptors(anyOpenFd, _descriptorReserve + ProbeSpan);
        _probedAtNs = now;
        _outOfHeadroom = free >= 0 && free < _descriptorReserve;
        if (free < 0)
        {
            // Cannot count (not expected with an open listener): keep serving; EMFILE handling is still there.
            _acceptBudget = 0;
            return true;
        }
        if (_outOfHeadroom)
        {
            _acceptBudget = 0;
            return false;
        }
        _acceptBudget = free - _descriptorReserve;
        return true;
    }

    private void LogShed()
    {
        _shedSinceLog++;
        long now = _loop.NowNanoseconds;
        if (now - _lastShedLogNs >= LogIntervalNs)
        {
            _lastShedLogNs = now;
            NetLog.SheddingForDescriptors(Logger, NetErrors.Describe(LocalEndPoint), _descriptorReserve,
                ProcessLimits.OpenFilesLimit(), _shedSinceLog);
            _shedSinceLog = 0;
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
        PauseAccepting();

        long now = _loop.NowNanoseconds;
        if (now - _lastExhaustionLogNs >= LogIntervalNs)
        {
            _lastExhaustionLogNs = now;
            NetLog.DescriptorsExhausted(Logger, Errno.Describe(error), NetErrors.Describe(LocalEndPoint), shed,
                (long)_options.DescriptorExhaustionPause.TotalMilliseconds);
        }
    }

    private void OnAcceptFailed(int error)
    {
        PauseAccepting();
        long now = _loop.NowNanoseconds;
        if (now - _lastAcceptFailureLogNs >= LogIntervalNs)
        {
            _lastAcceptFailureLogNs = now;
            NetLog.AcceptFailedPausing(Logger, NetErrors.Describe(LocalEndPoint), Errno.Describe(error),
                (long)_options.DescriptorExhaustionPause.TotalMilliseconds);
        }
    }

    /// <summary>No readiness for the listener until the timer re-enables it, so a lasting failure cannot spin the loop.</summary>
    private void PauseAccepting()
    {
        _loop.Disable((ulong)_listener!.Fd, KeventFilter.Read);
        _loop.StopTimer(ref _resumeTimer);
        _resumeTimer = _loop.StartTimer(Durations.ToNanoseconds(_options.DescriptorExhaustionPause), this);
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
