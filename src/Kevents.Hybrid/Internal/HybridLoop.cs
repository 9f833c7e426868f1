namespace Kevents.Hybrid.Internal;

/// <summary>
/// Kevents.Hybrid's state for one loop, kept as the loop's feature (<see cref="EventLoop.GetOrAddFeature{T}"/>): the
/// loop's threadlet runtime. Disposing it (the loop does, after it stops and before its descriptors close) shuts the
/// runtime down, so threadlets still running are waited for or reported instead of left behind.
/// </summary>
internal sealed class HybridLoop(ThreadletRuntime runtime) : IDisposable
{
    public ThreadletRuntime Runtime { get; } = runtime;

    public void Dispose()
    {
        // A runtime that lost the attach race (or never attached) started nothing to shut down.
        if (Runtime.IsAttached)
        {
            Runtime.ShutdownForLoopDisposal();
        }
    }
}
