namespace Kevents.Hybrid;

/// <summary>A threadlet still running on a cache-miss thread when its loop shut down.</summary>
/// <param name="Id">The threadlet's id (its completion kevent's Ident).</param>
/// <param name="Kind">Its body's method, "Type.Method".</param>
/// <param name="Step">What it was doing: "read '/path'", "blocking work Type.Method", or "its body".</param>
/// <param name="Running">How long it had been off the loop.</param>
public readonly record struct StuckThreadlet(ulong Id, string Kind, string Step, TimeSpan Running);

/// <summary>What a threadlet runtime's shutdown found.</summary>
public sealed class ThreadletShutdownReport
{
    internal ThreadletShutdownReport(TimeSpan waited, int cancelledQueued, IReadOnlyList<StuckThreadlet> stuck)
    {
        Waited = waited;
        CancelledQueued = cancelledQueued;
        Stuck = stuck;
    }

    /// <summary>How long shutdown waited for running threadlets.</summary>
    public TimeSpan Waited { get; }

    /// <summary>Operations that were still queued and were cancelled.</summary>
    public int CancelledQueued { get; }

    /// <summary>Threadlets still running when the deadline passed; empty when all finished.</summary>
    public IReadOnlyList<StuckThreadlet> Stuck { get; }
}
