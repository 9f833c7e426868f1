namespace Kevents;

// Room for the layers built on the loop (Kevents.Hybrid today): one state object per layer, and hooks that run when
// the loop is disposed, before its descriptors close, so a layer can finish or report its work instead of hanging.
public sealed partial class EventLoop
{
    private object? _hybridState;
    private Action? _shutdownHooks;
    private int _shutdownHooksRan;

    /// <summary>
    /// Returns the hybrid layer's state for this loop, creating it with <paramref name="create"/> the first time.
    /// Safe from any thread: when two threads race, one instance wins and both get it.
    /// </summary>
    internal T GetOrAddHybridState<T>(Func<EventLoop, T> create) where T : class
    {
        if (Volatile.Read(ref _hybridState) is T existing)
        {
            return existing;
        }
        T created = create(this);
        object? winner = Interlocked.CompareExchange(ref _hybridState, created, null);
        return winner as T ?? created;
    }

    /// <summary>The hybrid layer's state if it was created, else null.</summary>
    internal T? TryGetHybridState<T>() where T : class => Volatile.Read(ref _hybridState) as T;

    /// <summary>
    /// Adds <paramref name="hook"/> to run once when the loop is disposed, after it has stopped running and before its
    /// descriptors close. Hooks run on the disposing thread, in the order they were added; one that throws is logged.
    /// </summary>
    internal void AddShutdownHook(Action hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        Action? current;
        do
        {
            current = Volatile.Read(ref _shutdownHooks);
        }
        while (Interlocked.CompareExchange(ref _shutdownHooks, current + hook, current) != current);
    }

    private void RunShutdownHooks()
    {
        if (Interlocked.Exchange(ref _shutdownHooksRan, 1) != 0 || Volatile.Read(ref _shutdownHooks) is not { } hooks)
        {
            return;
        }
        foreach (Action hook in hooks.GetInvocationList().Cast<Action>())
        {
            try
            {
                hook();
            }
            catch (Exception ex)
            {
                Internal.Log.ShutdownHookFailed(_logger, Describe(hook), ex);
            }
        }
    }
}
