using Microsoft.Extensions.Logging;

namespace Kevents;

/// <summary>Settings of an <see cref="EventLoopGroup"/>. Every setting has a default that serves one loop per CPU.</summary>
public sealed class EventLoopGroupOptions
{
    /// <summary>How many loops (and threads) the group runs. Default <see cref="Environment.ProcessorCount"/>. At least 1.</summary>
    public int LoopCount { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Pins loop i to the i-th CPU this process may run on (wrapping around when there are more loops than CPUs), so
    /// a loop keeps its caches and, with a CPU-local listener, serves the connections its CPU received. Default false:
    /// the scheduler places the threads. A CPU that cannot be pinned (a container's cpuset, a missing permission) is
    /// logged as a warning and that loop runs unpinned; the group still starts.
    /// </summary>
    public bool PinToCpus { get; set; }

    /// <summary>
    /// Where the group and its loops log (each loop's <see cref="EventLoopOptions.LoggerFactory"/>). Default null:
    /// warnings and errors go to standard error, as for a lone loop.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// The poller backend of every loop (<see cref="EventLoopOptions.Backend"/>), set before <see cref="ConfigureLoop"/>
    /// runs. Default <see cref="LoopBackend.Default"/>: the <c>KEVENTS_BACKEND</c> environment variable, else epoll.
    /// </summary>
    public LoopBackend Backend { get; set; }

    /// <summary>
    /// Adjusts the options of loop i before it is created (spin time, batch sizes, ring capacity). The options it is
    /// given already carry the loop's name (<c>kevents-loop-</c>i, also its thread's name) and
    /// <see cref="LoggerFactory"/>. Default null: every loop uses the defaults of <see cref="EventLoopOptions"/>.
    /// </summary>
    public Action<int, EventLoopOptions>? ConfigureLoop { get; set; }

    internal EventLoopGroupOptions Validate()
    {
        if (LoopCount < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(LoopCount), LoopCount,
                "EventLoopGroupOptions.LoopCount must be at least 1 (default: Environment.ProcessorCount).");
        }
        if (LoopCount > 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(LoopCount), LoopCount,
                "EventLoopGroupOptions.LoopCount is above 4096: one loop per CPU is the intended shape; more loops than CPUs only add threads that compete for the same cores.");
        }
        return this;
    }
}
