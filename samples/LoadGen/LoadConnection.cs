using Kevents.Net;

namespace LoadGen;

/// <summary>
/// One load connection: keeps its messages going (a window of <see cref="LoadOptions.Depth"/> in closed loop, a
/// fixed schedule in open loop), times every answer and hands the bytes to its scenario session for checking.
/// Every method runs on its worker's loop thread.
/// </summary>
internal sealed class LoadConnection : IStreamHandler
{
    // Open loop only: a connection that cannot keep up stops sending past this many unanswered messages, so a
    // stalled server cannot make LoadGen queue without bound. Held-back sends keep their intended times.
    private const int MaxOpenInFlight = 65_536;

    private readonly LoopWorker _worker;
    private readonly ILoadSession _session;
    private readonly int _index;
    private TimestampQueue _inFlight;
    private StreamConnection? _connection;
    private long _lastActivityNs;
    private long _scheduleStartNs;
    private long _scheduled;
    private bool _closedByUs;
    private bool _errorCounted;

    public LoadConnection(LoopWorker worker, ILoadSession session, int index)
    {
        _worker = worker;
        _session = session;
        _index = index;
        _inFlight = new TimestampQueue(worker.IsOpenLoop ? 16 : worker.Depth);
    }

    public bool IsOpen => _connection is { IsClosed: false };

    public void OnConnected(StreamConnection connection)
    {
        _connection = connection;
        _worker.Add(this);
    }

    /// <summary>Starts sending: fills the window, or sets this connection's place on the shared schedule.</summary>
    public void Begin(long nowNs)
    {
        _lastActivityNs = nowNs;
        if (_worker.IsOpenLoop)
        {
            // Connection i's k-th message is due at start + (k * connections + i) / rate: together the
            // connections send one evenly spaced stream at the requested rate.
            _scheduleStartNs = nowNs + (long)(_index * _worker.GlobalIntervalNs);
            SendDue(nowNs);
        }
        else
        {
            Fill(nowNs);
        }
    }

    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
    {
        long now = Clock.NowNs();
        _lastActivityNs = now;
        _worker.OnBytesReceived(data.Length, now);
        ResponseProgress progress = _session.ReadResponses(data);
        for (int i = 0; i < progress.Completed; i++)
        {
            // A scenario that completes more answers than there are requests has already flagged the stream broken.
            long sentAt = _inFlight.Count > 0 ? _inFlight.Dequeue() : now;
            _worker.Record(now - sentAt, now);
        }
        _worker.Mismatches += progress.Mismatched + (progress.Broken ? 1 : 0);
        if (progress.Broken)
        {
            CloseByUs(abort: true);
            return;
        }
        if (_worker.Draining)
        {
            if (_inFlight.Count == 0)
            {
                CloseByUs(abort: false);
            }
            return;
        }
        if (_worker.Sending)
        {
            if (_worker.IsOpenLoop)
            {
                SendDue(now);
            }
            else
            {
                Fill(now);
            }
        }
    }

    public void OnDrained(StreamConnection connection)
    {
        // Output had backed up and the open-loop schedule was held; catch up now.
        if (_worker.Sending && _worker.IsOpenLoop)
        {
            SendDue(Clock.NowNs());
        }
    }

    public void OnEndOfStream(StreamConnection connection)
    {
        if (!_closedByUs && !_errorCounted)
        {
            _worker.PeerCloses++;
            _errorCounted = true;
        }
        CloseByUs(abort: false);
    }

    public void OnClosed(StreamConnection connection, Exception? error)
    {
        if (!_closedByUs && !_errorCounted)
        {
            // Closed under us: a reset, or the socket failed.
            if (error is null)
            {
                _worker.PeerCloses++;
            }
            else
            {
                _worker.Resets++;
            }
            _errorCounted = true;
        }
        _connection = null;
        _worker.Remove(this);
    }

    /// <summary>The worker's tick: open-loop sends that fell due, and the answer timeout.</summary>
    public void OnTick(long nowNs, bool checkTimeout)
    {
        if (checkTimeout && _inFlight.Count > 0 && nowNs - _lastActivityNs > _worker.TimeoutNs)
        {
            _worker.Timeouts++;
            _errorCounted = true;
            CloseByUs(abort: true);
            return;
        }
        if (_worker.Sending && _worker.IsOpenLoop)
        {
            SendDue(nowNs);
        }
    }

    /// <summary>The run is over: close once the answers in flight are back (or at once if none are).</summary>
    public void Drain()
    {
        if (_inFlight.Count == 0)
        {
            CloseByUs(abort: false);
        }
    }

    public void CloseByUs(bool abort)
    {
        if (_connection is not { IsClosed: false } connection)
        {
            return;
        }
        _closedByUs = true;
        if (abort)
        {
            connection.Abort("LoadGen dropped the connection.");
        }
        else
        {
            connection.Close();
        }
    }

    private void Fill(long nowNs)
    {
        int wanted = _worker.Depth - _inFlight.Count;
        if (wanted > 0)
        {
            Send(wanted, nowNs, scheduled: false);
        }
    }

    private void SendDue(long nowNs)
    {
        if (_connection is not { IsClosed: false, IsWriterPaused: false })
        {
            return;
        }
        int due = 0;
        while (IntendedTime(_scheduled + due) <= nowNs && _inFlight.Count + due < MaxOpenInFlight)
        {
            due++;
        }
        if (due > 0)
        {
            Send(due, nowNs, scheduled: true);
        }
    }

    /// <summary>When message <paramref name="k"/> of this connection is meant to go out.</summary>
    private long IntendedTime(long k) => _scheduleStartNs + (long)(k * _worker.ConnectionIntervalNs);

    private void Send(int count, long nowNs, bool scheduled)
    {
        StreamConnection? connection = _connection;
        if (connection is null || connection.IsClosed)
        {
            return;
        }
        if (_inFlight.Count == 0)
        {
            // The answer timeout counts from when something is first outstanding.
            _lastActivityNs = nowNs;
        }
        byte[] scratch = _worker.Scratch;
        int maxRequest = _worker.MaxRequestSize;
        int length = 0;
        for (int i = 0; i < count; i++)
        {
            if (length + maxRequest > scratch.Length)
            {
                if (!connection.Write(scratch.AsSpan(0, length)))
                {
                    return;
                }
                length = 0;
            }
            length += _session.WriteRequest(scratch.AsSpan(length));
            long sentAt = nowNs;
            if (scheduled)
            {
                sentAt = IntendedTime(_scheduled++);
                _worker.OnScheduledSend(sentAt, nowNs - sentAt);
            }
            _inFlight.Enqueue(sentAt);
        }
        connection.Write(scratch.AsSpan(0, length));
    }
}
