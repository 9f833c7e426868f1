namespace Kevents.Hybrid;

/// <summary>What happens to blocking work when its class's queue already holds its limit.</summary>
public enum QueueFullPolicy
{
    /// <summary>The operation fails at once with <see cref="ThreadletQueueFullException"/>. The default.</summary>
    Reject = 0,
    /// <summary>
    /// The operation waits in line beyond the limit until a thread takes it. The loop itself never blocks: the
    /// threadlet stays suspended. Use it when every submission must eventually run and memory is not the concern.
    /// </summary>
    Wait = 1,
}
