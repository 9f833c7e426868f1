using Kevents.Internal;

namespace Kevents;

// Metrics: meter "Kevents"; instrument names are listed in the README.
public sealed partial class EventLoop
{
    private readonly LoopMetrics _metrics;

    /// <summary>Turns the loop has completed.</summary>
    public long Iterations => Volatile.Read(ref _metrics.Iterations);

    internal long RingOverflows => _posted.OverflowCount + _completions.OverflowCount;
}
