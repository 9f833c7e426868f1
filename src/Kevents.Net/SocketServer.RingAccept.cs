using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

// Accepting on the io_uring backend, where the loop's ring runs a multishot accept for the listener and delivers each
// accepted descriptor as a Read kevent (EventLoop.AcceptedFilterFlag; Data is the descriptor or -errno). The policies
// of SocketServer.Accept.cs apply unchanged: the connection limit and the descriptor reserve (OnAccepted), EMFILE with
// the spare descriptor and a pause (the kernel ends the multishot accept with the error; the loop arms it again when
// the pause re-enables the listener), and other failures.
//
// The batch bound: with readiness the server accepts at most AcceptsPerTurn connections per turn and leaves the rest
// in the backlog. The ring accepts without asking, so connections beyond the bound are already open descriptors; they
// wait here, in order, and are served AcceptsPerTurn per turn from posted work, so a burst of connects still cannot
// take a whole turn from the connections already served. They are closed if the server stops first.
public sealed partial class SocketServer
{
    private readonly Queue<int> _deferredAccepts = new();
    private long _acceptTurn = -1;
    private int _acceptedThisTurn;
    private bool _drainPosted;
    private Action? _drainDeferred;

    /// <summary>Whether servers on <paramref name="loop"/> accept through its ring (io_uring on Linux 5.19 or later), for tests.</summary>
    internal static bool AcceptsInRing(EventLoop loop) => loop.AcceptInRingIfSupported != 0;

    /// <summary>Connections the ring accepted beyond this turn's batch, waiting for the next turn (for tests).</summary>
    internal int DeferredAcceptCount => _deferredAccepts.Count;

    private void OnRingAccepted(int result)
    {
        if (result >= 0)
        {
            if (_listener is null)
            {
                Io.Close(result);
                return;
            }
            StartAcceptTurn();
            if (_deferredAccepts.Count > 0 || _acceptedThisTurn >= _options.AcceptsPerTurn)
            {
                _deferredAccepts.Enqueue(result);
                PostDeferredDrain();
                return;
            }
            _acceptedThisTurn++;
            OnAccepted(result);
            return;
        }
        if (result == -Errno.EMFILE || result == -Errno.ENFILE)
        {
            // The ring's accept has ended with this error. The spare trick sheds what waits in the backlog with
            // accept(2) (the ring is not accepting now), and the pause disables the listener; enabling it arms a new
            // multishot accept.
            OnDescriptorsExhausted(result);
            return;
        }
        if (IsPendingConnectionError(result))
        {
            // That connection is lost; the loop arms the accept again after this turn.
            NetLog.PendingConnectionFailed(Logger, NetErrors.Describe(LocalEndPoint), Errno.Describe(result));
            return;
        }
        OnAcceptFailed(result);
    }

    private void StartAcceptTurn()
    {
        long turn = _loop.Iterations;
        if (turn != _acceptTurn)
        {
            _acceptTurn = turn;
            _acceptedThisTurn = 0;
        }
    }

    private void PostDeferredDrain()
    {
        if (!_drainPosted)
        {
            _drainPosted = true;
            _loop.Post(_drainDeferred ??= DrainDeferredAccepts);
        }
    }

    /// <summary>Posted work of a later turn: serves up to this turn's batch of the connections waiting here.</summary>
    private void DrainDeferredAccepts()
    {
        _drainPosted = false;
        if (_listener is null)
        {
            CloseDeferredAccepts();
            return;
        }
        StartAcceptTurn();
        while (_deferredAccepts.Count > 0 && _acceptedThisTurn < _options.AcceptsPerTurn && _listener is not null)
        {
            _acceptedThisTurn++;
            OnAccepted(_deferredAccepts.Dequeue());
        }
        if (_deferredAccepts.Count > 0)
        {
            PostDeferredDrain();
        }
    }

    private void CloseDeferredAccepts()
    {
        while (_deferredAccepts.TryDequeue(out int fd))
        {
            Io.Close(fd);
        }
    }
}
