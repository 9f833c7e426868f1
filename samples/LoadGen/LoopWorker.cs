using System.Net;
using HdrHistogram;
using Kevents;
using Kevents.Net;

namespace LoadGen;

/// <summary>
/// One event loop's share of the load: its connections, its latency histogram and its counters. Everything but
/// the constructor, <see cref="Start"/> and <see cref="Dispose"/> runs on the loop thread; the counters are
/// written only there and read from the runner's thread for the progress line (stale by a moment, never torn on
/// a 64-bit machine).
/// </summary>
internal sealed class LoopWorker : IDisposable
{
    /// <summary>Latencies above an hour are recorded as an hour: nothing real takes that long and still counts.</summary>
    public const long HighestLatencyNs = 3_600_000_000_000;

    // A send that leaves more than a whole tick after its intended time has fallen behind the schedule.
    private const long LateThresholdNs = 1_000_000;

    // After the run, connections get this long to bring back the answers in flight before they are dropped.
    private static readonly TimeSpan s_drainLimit = TimeSpan.FromSeconds(1);

    /// <summary>At most this many failed connections are listed one by one (the counters count them all).</summary>
    public const int MaxListedErrors = 10_000;

    private const ulong TickTimer = 1;
    private const ulong DrainTimer = 2;

    private readonly List<LoadConnection> _connections = [];
    // Churn: replacements whose connect failed, tried again on the next timeout check.
    private readonly List<LoadConnection> _retry = [];
    private readonly ILoadScenario _scenario;
    private readonly EndPoint? _target;
    private readonly TimeSpan _connectTimeout;
    private readonly double _resetFraction;
    private readonly Random _random;
    private int _connecting;
    private bool _finished;
    private readonly TaskCompletionSource _allClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _tickPerMillisecond;
    private readonly bool _spin;
    private readonly Action _spinPace;
    private Task? _running;
    private long _measureStartNs = long.MaxValue;
    private long _measureEndNs = long.MaxValue;
    private long _ticks;
    private long _loadStartNs;

    /// <summary>Creates the worker; <paramref name="target"/> is where churn opens replacement connections.</summary>
    public LoopWorker(int index, LoadOptions options, ILoadScenario scenario, EndPoint? target = null)
    {
        _scenario = scenario;
        _target = target;
        _connectTimeout = options.Timeout;
        Churn = options.Churn;
        _resetFraction = options.ResetFraction;
        // Seeded per loop, so which connections reset is the same from run to run.
        _random = new Random(index + 1);
        Loop = new EventLoop(new EventLoopOptions { Name = $"loadgen-{index}" });
        IsOpenLoop = options.IsOpenLoop;
        Depth = options.Depth;
        TimeoutNs = options.Timeout.Ticks * 100;
        MaxRequestSize = scenario.MaxRequestSize;
        // One write carries as many requests as fit in 64 KiB (the depth's worth, usually), in one syscall.
        Scratch = new byte[Math.Max(64 * 1024, scenario.MaxRequestSize)];
        if (IsOpenLoop)
        {
            GlobalIntervalNs = 1e9 / options.Rate;
            ConnectionIntervalNs = GlobalIntervalNs * options.Connections;
        }
        _tickPerMillisecond = IsOpenLoop;
        _spin = IsOpenLoop && options.Spin;
        _spinPace = SpinPace;
    }

    public EventLoop Loop { get; }

    public bool IsOpenLoop { get; }

    public int Depth { get; }

    public long TimeoutNs { get; }

    public int MaxRequestSize { get; }

    public byte[] Scratch { get; }

    /// <summary>Open loop: time between consecutive sends across all connections, and on one connection.</summary>
    public double GlobalIntervalNs { get; }

    public double ConnectionIntervalNs { get; }

    /// <summary>True between <see cref="Go"/> and <see cref="BeginDrain"/>: connections keep their load going.</summary>
    public bool Sending { get; private set; }

    /// <summary>True after <see cref="BeginDrain"/>: connections close as their last answers arrive.</summary>
    public bool Draining { get; private set; }

    /// <summary>Churn: answers per connection before it is replaced (0: no churn).</summary>
    public int Churn { get; }

    /// <summary>The client side needs no idle timeout: LoadGen watches for missing answers itself.</summary>
    public static ConnectionOptions ConnectionOptions { get; } = new() { IdleTimeout = Timeout.InfiniteTimeSpan };

    public LongHistogram Histogram { get; } = new(HighestLatencyNs, 3);

    /// <summary>Completes when every connection of this worker has closed after <see cref="BeginDrain"/>.</summary>
    public Task AllClosed => _allClosed.Task;

    public int LiveConnections => _connections.Count;

    // Counters (see the class comment for who writes and reads them).
    public long Completed;
    public long Measured;
    public long MeasuredBytes;
    public long Mismatches;
    public long Resets;
    public long PeerCloses;
    public long Timeouts;
    public long ScheduledSends;
    public long LateSends;
    public long MaxLagNs;
    public long Replacements;
    public long ResetCloses;
    public long ReconnectErrors;
    public string? FirstReconnectError;

    /// <summary>Connections that failed, one by one (up to <see cref="MaxListedErrors"/>); read after the run.</summary>
    public List<ConnectionError> ConnectionErrors { get; } = [];

    public void Start() => _running = Loop.RunAsync();

    public void Add(LoadConnection connection) => _connections.Add(connection);

    public void Remove(LoadConnection connection)
    {
        _connections.Remove(connection);
        if (Sending && Churn > 0)
        {
            // Opened from a posted item rather than inside this close, so a connect that completes at once
            // cannot re-enter the connection (or the tick's loop over connections) that is closing.
            Loop.Post(() => Replace(connection));
        }
        MaybeFinish();
    }

    /// <summary>Whether the next churned connection ends with a reset; decided up front, from the seeded generator.</summary>
    public bool NextEndsWithReset() => _resetFraction > 0 && _random.NextDouble() < _resetFraction;

    /// <summary>Churn: opens a new connection in the place of <paramref name="previous"/>, which has closed.</summary>
    private void Replace(LoadConnection previous)
    {
        if (!Sending || _target is null)
        {
            return;
        }
        var next = new LoadConnection(this, _scenario.CreateSession(previous.Index), previous.Index, NextEndsWithReset(), previous);
        _connecting++;
        Task<StreamConnection> connect;
        try
        {
            connect = Loop.ConnectAsync(_target, next, _connectTimeout, ConnectionOptions);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or InvalidOperationException)
        {
            connect = Task.FromException<StreamConnection>(ex);
        }
        if (connect.IsCompleted)
        {
            OnReplaceConnected(connect, next);
        }
        else
        {
            // The connect may complete on another thread; its outcome is handled on this loop.
            connect.ContinueWith(t =>
            {
                try
                {
                    Loop.Post(() => OnReplaceConnected(t, next));
                }
                catch (ObjectDisposedException)
                {
                    // The run is over and the loop is gone: nothing is left to count.
                }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void OnReplaceConnected(Task<StreamConnection> connect, LoadConnection next)
    {
        _connecting--;
        if (connect.IsCompletedSuccessfully)
        {
            Replacements++;
        }
        else
        {
            ReconnectErrors++;
            FirstReconnectError ??= connect.Exception?.InnerException?.Message ?? "connect cancelled";
            if (Sending)
            {
                // Try again at the next timeout check (at most 100 ms away), not at once: a refusing server
                // would otherwise be hammered in a tight loop.
                _retry.Add(next);
            }
        }
        MaybeFinish();
    }

    /// <summary>Starts the load: answers are recorded from <paramref name="measureStartNs"/> until <paramref name="measureEndNs"/>.</summary>
    public void Go(long nowNs, long measureStartNs, long measureEndNs)
    {
        _loadStartNs = nowNs;
        _measureStartNs = measureStartNs;
        _measureEndNs = measureEndNs;
        Sending = true;
        // Open loop wakes every millisecond to send what fell due; closed loop only needs to watch for timeouts.
        Loop.Register(Kevent.PeriodicTimer(TickTimer, TimeSpan.FromMilliseconds(_tickPerMillisecond ? 1 : 100)), OnTick);
        foreach (LoadConnection connection in _connections.ToArray())
        {
            connection.Begin(nowNs);
        }
        if (_spin)
        {
            Loop.Post(_spinPace);
        }
    }

    /// <summary>Moves the end of the measured window earlier (the run was cancelled).</summary>
    public void EndMeasurementAt(long endNs) => _measureEndNs = Math.Min(_measureEndNs, endNs);

    /// <summary>Stops new sends and closes each connection once its answers are in, or at the drain limit.</summary>
    public void BeginDrain()
    {
        Sending = false;
        Draining = true;
        _retry.Clear();
        foreach (LoadConnection connection in _connections.ToArray())
        {
            connection.Drain();
        }
        if (_connections.Count == 0 && _connecting == 0)
        {
            Finish();
            return;
        }
        Loop.Register(Kevent.Timer(DrainTimer, s_drainLimit), (in Kevent _) =>
        {
            foreach (LoadConnection connection in _connections.ToArray())
            {
                connection.CloseByUs(abort: true);
            }
        });
    }

    public void Record(long latencyNs, long nowNs)
    {
        Completed++;
        if (nowNs >= _measureStartNs && nowNs < _measureEndNs)
        {
            Measured++;
            Histogram.RecordValue(Math.Clamp(latencyNs, 0, HighestLatencyNs));
        }
    }

    /// <summary>Lists a failed connection: its local address and when (seconds since the load started) it failed.</summary>
    public void RecordConnectionError(string? local, ConnectionErrorKind kind)
    {
        if (ConnectionErrors.Count < MaxListedErrors)
        {
            long now = Clock.NowNs();
            ConnectionErrors.Add(new ConnectionError(local ?? "?", kind, _loadStartNs == 0 ? 0 : (now - _loadStartNs) / 1e9));
        }
    }

    public void OnBytesReceived(int count, long nowNs)
    {
        if (nowNs >= _measureStartNs && nowNs < _measureEndNs)
        {
            MeasuredBytes += count;
        }
    }

    public void OnScheduledSend(long intendedNs, long lagNs)
    {
        if (intendedNs >= _measureStartNs && intendedNs < _measureEndNs)
        {
            ScheduledSends++;
            if (lagNs > LateThresholdNs)
            {
                LateSends++;
            }
            MaxLagNs = Math.Max(MaxLagNs, lagNs);
        }
    }

    public void Dispose()
    {
        // Stops the loop and waits for its thread; the connections were closed by the drain.
        Loop.Dispose();
        _running?.Wait(TimeSpan.FromSeconds(5));
    }

    private void OnTick(in Kevent ev)
    {
        long now = Clock.NowNs();
        // Timeouts need no millisecond precision: check them every 100 ms in either mode.
        bool checkTimeout = !_tickPerMillisecond || ++_ticks % 100 == 0;
        // Backwards, because a connection that times out removes itself from the list (and only itself).
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            _connections[i].OnTick(now, checkTimeout);
        }
        if (checkTimeout && _retry.Count > 0)
        {
            LoadConnection[] retry = [.. _retry];
            _retry.Clear();
            foreach (LoadConnection previous in retry)
            {
                Replace(previous);
            }
        }
    }

    /// <summary>
    /// --spin: re-posts itself every turn, so the loop never sleeps and each due send leaves within microseconds
    /// instead of waiting for the next timer tick. Costs one busy core per loop.
    /// </summary>
    private void SpinPace()
    {
        if (!Sending)
        {
            return;
        }
        long now = Clock.NowNs();
        for (int i = _connections.Count - 1; i >= 0; i--)
        {
            _connections[i].OnTick(now, checkTimeout: false);
        }
        Loop.Post(_spinPace);
    }

    private void MaybeFinish()
    {
        if (Draining && _connections.Count == 0 && _connecting == 0)
        {
            Finish();
        }
    }

    private void Finish()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        Loop.Unregister(TickTimer, KeventFilter.Timer);
        Loop.Unregister(DrainTimer, KeventFilter.Timer);
        _allClosed.TrySetResult();
    }
}
