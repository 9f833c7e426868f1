using Kevents.Net.Internal;

namespace Kevents.Net;

// Minimum response data rate (RELIABILITY #16, Kestrel's MinResponseDataRate).
//
// A connection is "stalled" while output it holds waits for the socket to become writable: the stream queue, the
// pipe's unsent flushed bytes, or a NotifyWritable wait. A stall starts a measurement window of the grace period's
// length and makes sure the connection's timer fires by its end. When the window ends the timer compares the bytes
// the kernel took during it (BytesWritten, already counted on every send) with the minimum: too few aborts the
// connection, enough starts the next window. Nothing is done per byte or per writable event.
//
// Windows rather than one average over the whole stall: a peer that read fast for an hour could otherwise stop
// reading and keep its buffers pinned for hours more before the average sank below the minimum.
public abstract partial class Connection
{
    private bool _outputStalled;
    private long _rateWindowStartNs;
    private long _rateWindowStartBytes;

    /// <summary>Output started waiting for writability. Idempotent: a stall already being measured goes on.</summary>
    private protected void BeginOutputStall()
    {
        if (_outputStalled || _options.MinResponseRate <= 0 || IsClosed)
        {
            return;
        }
        _outputStalled = true;
        _rateWindowStartNs = _loop.NowNanoseconds;
        _rateWindowStartBytes = BytesWritten;
        ArmTimer(_rateWindowStartNs + _options.MinResponseRateGraceNs);
    }

    /// <summary>
    /// Nothing waits for writability any more (the peer took everything). The timer is left as it is: when it fires
    /// it finds no stall and re-arms for the idle timeout only.
    /// </summary>
    private protected void EndOutputStall() => _outputStalled = false;

    /// <summary>When the current measurement window ends; <see cref="long.MaxValue"/> when output is not stalled.</summary>
    private long NextResponseRateCheckNs => _outputStalled ? _rateWindowStartNs + _options.MinResponseRateGraceNs : long.MaxValue;

    /// <summary>Judges a measurement window that has ended. Returns false when the connection was aborted.</summary>
    private bool CheckResponseRate(long now)
    {
        if (!_outputStalled)
        {
            return true;
        }
        long elapsed = now - _rateWindowStartNs;
        if (elapsed < _options.MinResponseRateGraceNs)
        {
            return true;
        }
        long drained = BytesWritten - _rateWindowStartBytes;
        double rate = drained * 1e9 / elapsed;
        double minimum = _options.MinResponseRate;
        if (rate < minimum)
        {
            NetLog.ResponseRateTooLow(_logger, Id, (long)rate, elapsed / 1_000_000, (long)minimum);
            CloseSocket(new ConnectionAbortedException(
                $"Connection {Id} was aborted: the peer read too slowly ({rate:F0} B/s over {elapsed / 1_000_000} ms; the minimum is {minimum:F0} B/s)."),
                reset: true);
            return false;
        }
        _rateWindowStartNs = now;
        _rateWindowStartBytes = BytesWritten;
        return true;
    }
}
