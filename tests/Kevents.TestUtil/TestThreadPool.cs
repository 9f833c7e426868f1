using System.Runtime.CompilerServices;

namespace Kevents.Tests;

/// <summary>
/// Lets the thread pool start threads at once in every test process. Tests drive their clients with awaits, and some
/// block a pool thread while a server drains; with the default minimum (one thread per core, two in CI) the pool adds
/// a thread only every half second or so when those are taken, and a client's next send then waits - past a server's
/// one-second timeout, in one CI run. Kevents itself runs on its own loop threads; only the tests' clients use the pool.
/// </summary>
internal static class TestThreadPool
{
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification =
        "Test processes only: every test project references this assembly, and the setting must precede any test.")]
    internal static void RaiseMinimum()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(completionPorts, 32));
    }
}
