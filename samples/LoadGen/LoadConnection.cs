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
    private readonly bool _resetAtEnd;
    private readonly bool _inheritsSchedule;
    private TimestampQueue _inFlight;
    private StreamConnection? _connection;
    private long _lastActivityNs;
    private long _scheduleStartNs;
    private long _scheduled;
    private int _requests;
    private bool _closedByUs;
    private bool _errorCounted;
    // This end's address, so an error can be traced to the backend a balancer chose for it (see LoadResult.ConnectionErrors).
    private string? _local;

    /// <summary>
    /// Creates connection number <paramref name="index"/>. With churn, <paramref name="predecessor"/> is the
    /// connection it replaces (its open-loop schedule carries on here) and <paramref name="resetAtEnd"/> says
    /// whether this one ends with a reset in the middle of a request instead of a clean close.
    /// </summary>
    public LoadConnection(LoopWorker worker, ILoadSession session, int index, bool resetAtEnd = false, LoadConnection? predecessor = null)
    {
        _worker = worker;
        _session = session;
        _index = index;
        _resetAtEnd = resetAtEnd;
        _inFlight = new TimestampQueue(worker.IsOpenLoop ? 16 : worker.Depth);
        if (predecessor is not null)
        {
            _inheritsSchedule = true;
            _scheduleStartNs = predecessor._scheduleStartNs;
            _scheduled = predecessor._scheduled;
        }
    }

    public int Index => _index;

    public bool IsOpen => _connection is { IsClosed: false };

    public void OnConnected(StreamConnection connection)
    {
        _connection = connection;
        // One getsockname per connection, never per message.
        _local = connection.LocalEndPoint?.ToString();
        _worker.Add(this);
        if (_worker.Draining)
        {
            // A replacement that connected after the run ended.
            CloseByUs(abort: false);
        }
        else if (_worker.Sending)
        {
            // A replacement opened by churn joins the load at once.
            Begin(Clock.NowNs());
        }
    }

    /// <summary>Starts sending: fills the window, or sets this connection's place on the shared schedule.</summary>
    public void Begin(long nowNs)
    {
        _lastActivityNs = nowNs;
        if (_worker.IsOpenLoop)
        {
            // Connection i's k-th message is due at start + (k * connections + i) / rate: together the
            // connections send one evenly spaced stream at the requested rate. A replacement keeps its
            // predecessor's place, so sends that fell due while it connected go out late and count as such.
            if (!_inheritsSchedule)
            {
                _scheduleStartNs = nowNs + (long)(_index * _worker.GlobalIntervalNs);
            }
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
        if (_worker.Draining || ChurnDone)
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
            _worker.RecordConnectionError(_local, ConnectionErrorKind.PeerClose);
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
            _worker.RecordConnectionError(_local, error is null ? ConnectionErrorKind.PeerClose : ConnectionErrorKind.Reset);
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
            _worker.RecordConnectionError(_local, ConnectionErrorKind.Timeout);
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

    /// <summary>Churn: this connection has sent all the requests it will send.</summary>
    private bool ChurnDone => _worker.Churn > 0 && _requests >= _worker.Churn;

    /// <summary>Requests this connection may still send before churn ends it.</summary>
    private int ChurnAllowance => _worker.Churn > 0 ? _worker.Churn - _requests : int.MaxValue;

    private void Fill(long nowNs)
    {
        int wanted = Math.Min(_worker.Depth - _inFlight.Count, ChurnAllowance);
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
        int allowance = ChurnAllowance;
        while (due < allowance && IntendedTime(_scheduled + due) <= nowNs && _inFlight.Count + due < MaxOpenInFlight)
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
            if (_resetAtEnd && _requests == _worker.Churn - 1)
            {
                ResetMidRequest(connection, scratch, length, scheduled);
                return;
            }
            _requests++;
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

    /// <summary>
    /// Churn with resets: sends what is queued plus the first half of one more request, then closes with
    /// SO_LINGER 0, so the server sees a reset while it holds a partial request (and maybe answers in flight).
    /// </summary>
    private void ResetMidRequest(StreamConnection connection, byte[] scratch, int length, bool scheduled)
    {
        int size = _session.WriteRequest(scratch.AsSpan(length));
        _requests++;
        if (scheduled)
        {
            // The half request takes its slot on the schedule; nobody waits for its answer.
            _scheduled++;
        }
        connection.Write(scratch.AsSpan(0, length + Math.Max(1, size / 2)));
        _worker.ResetCloses++;
        CloseByUs(abort: true);
    }
}
