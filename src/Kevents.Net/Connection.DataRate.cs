using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

// Minimum response data rate (docs/reliability.md; Kestrel's MinResponseDataRate).
//
// A connection is "stalled" while output it holds waits for the socket to become writable: the stream queue, the
// pipe's unsent flushed bytes, or a NotifyWritable wait. A stall starts a measurement window and makes sure the
// connection's timer fires by its end. When the window ends the timer compares the bytes the peer took during it with
// the minimum: too few aborts the connection, enough starts the next window. Nothing is done per byte or per
// writable event; one ioctl at the start and end of each window.
//
// What the peer took is what it acknowledged: bytes the kernel accepted minus what it still holds unacknowledged
// (SIOCOUTQ). Counting only what the kernel accepted is wrong with a large send buffer: Linux autotunes it to several
// megabytes and reports the socket writable only after a third of it has drained, so a peer reading steadily at many
// times the minimum could go a whole window without a writable edge and look like it took nothing.
//
// Even acknowledged bytes arrive in steps (S): a Linux receiver frees its receive buffer a whole packet buffer at a
// time (up to 64 KiB of data, about 93 KiB of memory, with GRO or on loopback) and keeps its window shut until at
// least a sixteenth of the buffer is free, so a peer reading steadily is seen to take nothing, then about 90 KiB at
// once. A Unix socket likewise frees a send buffer (up to about 36 KiB) only when the peer has read all of it. We
// take S = 128 KiB. A window therefore lasts at least the grace period and at least 1.25 S / minimum, so that
// - a peer reading at twice the minimum shows at least 2 * 1.25 S - S = 1.5 S per window (what it read, less at most
//   one step not yet announced), more than the 1.25 S required: it is never aborted;
// - one reading at half the minimum shows at most 0.625 S k + S over k windows, so at least one of any two
//   consecutive windows falls short: it is aborted within two windows, and one that reads nothing after the first.
// No sender can tell a slow reader from a stopped one sooner than a step takes to show; the window is that cost.
//
// Windows rather than one average over the whole stall: a peer that read fast for an hour could otherwise stop
// reading and keep its buffers pinned for hours more before the average sank below the minimum.
public abstract partial class Connection
{
    /// <summary>The largest step in which the kernel is assumed to report a peer's progress (see the remarks above).</summary>
    internal const int ProgressStepBytes = 128 * 1024;

    // Made at a connection's first stall: most connections never stall, and an idle one should not carry 40 bytes
    // of rate bookkeeping it has never used.
    private ResponseRateState? _responseRate;

    private sealed class ResponseRateState
    {
        public RateWindow Window; // running while output is stalled
        public long PeerTaken;
    }

    /// <summary>Output started waiting for writability. Idempotent: a stall already being measured goes on.</summary>
    private protected void BeginOutputStall()
    {
        // A window that never ends (the check is off, or the grace period is infinite) judges nothing: leave the
        // connection to the idle timeout.
        if (IsOutputJudgedByRate || IsClosed || _options.MinResponseRateWindowNs == Durations.Never)
        {
            return;
        }
        long now = _loop.NowNanoseconds;
        ResponseRateState rate = _responseRate ??= new ResponseRateState();
        rate.Window.Start(now, PeerTaken(rate));
        ArmTimer(Durations.After(now, _options.MinResponseRateWindowNs));
    }

    /// <summary>
    /// Nothing waits for writability any more (the peer took everything). The timer is left as it is: when it fires
    /// it finds no stall and re-arms for the idle timeouts only.
    /// </summary>
    private protected void EndOutputStall() => _responseRate?.Window.Stop();

    /// <summary>True while queued output is being judged by the minimum rate; the idle timeout then waits (see OnTimer).</summary>
    private bool IsOutputJudgedByRate => _responseRate is { Window.Running: true };

    /// <summary>When the current measurement window ends; <see cref="Durations.Never"/> when output is not stalled.</summary>
    private long NextResponseRateCheckNs =>
        _responseRate?.Window.EndsAtNs(_loop.NowNanoseconds, _options.MinResponseRateWindowNs) ?? Durations.Never;

    /// <summary>
    /// Bytes the peer has taken so far: what the kernel accepted minus what it still holds unacknowledged. Never goes
    /// down (a Unix socket counts what it holds with the kernel's bookkeeping overhead, and a raw sender may not have
    /// reported every byte yet).
    /// </summary>
    private long PeerTaken(ResponseRateState state)
    {
        long taken = BytesWritten;
        if (_socket is not null)
        {
            int held = NativeSocket.GetUnacknowledgedBytes(_socket.Fd);
            if (held > 0)
            {
                taken -= held;
            }
        }
        if (taken > state.PeerTaken)
        {
            state.PeerTaken = taken;
        }
        return state.PeerTaken;
    }

    /// <summary>Judges a measurement window that has ended. Returns false when the connection was aborted.</summary>
    private bool CheckResponseRate(long now)
    {
        if (_responseRate is not { Window.Running: true } state || state.Window.ElapsedNs(now) < _options.MinResponseRateWindowNs)
        {
            return true;
        }
        double minimum = _options.MinResponseRate;
        if (state.Window.Judge(now, PeerTaken(state), _options.MinResponseRateWindowNs, minimum, out double rate, out long elapsed) == RateVerdict.TooSlow)
        {
            NetLog.ResponseRateTooLow(_logger, Id, (long)rate, elapsed / 1_000_000, (long)minimum);
            CloseSocket(new ConnectionAbortedException(
                $"Connection {Id} was aborted: the peer read too slowly ({rate:F0} B/s over {elapsed / 1_000_000} ms; the minimum is {minimum:F0} B/s)."),
                reset: true);
            return false;
        }
        return true;
    }
}
