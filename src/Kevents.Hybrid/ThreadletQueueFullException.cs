namespace Kevents.Hybrid;

/// <summary>
/// Blocking work was refused because its class's queue was full and the policy is
/// <see cref="QueueFullPolicy.Reject"/>. The message names the limit and the option that raises it.
/// </summary>
public sealed class ThreadletQueueFullException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="workClass"/> whose queue holds <paramref name="limit"/> items.</summary>
    public ThreadletQueueFullException(WorkClass workClass, int limit)
        : base($"The cache-miss queue for {workClass} work is full ({limit} operations waiting for a thread). " +
               $"Raise ThreadletOptions.{OptionName(workClass)} (now {limit}), raise ThreadletOptions.{ThreadsOptionName(workClass)} so threads drain it faster, " +
               "or set ThreadletOptions.QueueFullPolicy = QueueFullPolicy.Wait to make callers wait instead.")
    {
        WorkClass = workClass;
        Limit = limit;
    }

    /// <summary>The class whose queue was full.</summary>
    public WorkClass WorkClass { get; }

    /// <summary>The queue limit in force.</summary>
    public int Limit { get; }

    internal static string OptionName(WorkClass workClass) =>
        workClass == WorkClass.Short ? nameof(ThreadletOptions.MaxQueuedShort) : nameof(ThreadletOptions.MaxQueuedLong);

    internal static string ThreadsOptionName(WorkClass workClass) =>
        workClass == WorkClass.Short ? nameof(ThreadletOptions.MaxShortThreads) : nameof(ThreadletOptions.MaxLongThreads);
}
