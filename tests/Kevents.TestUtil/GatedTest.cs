namespace Kevents.Tests;

/// <summary>
/// Base class of every Kevents test: xUnit builds a new instance for each test, so each test gets its own
/// <see cref="LeakGate"/>, taken before it starts and checked when it is disposed.
/// </summary>
/// <remarks>The gate is process-wide: the test assembly must disable parallel test execution.</remarks>
public abstract class GatedTest : IDisposable
{
    /// <summary>Takes the gate's baselines.</summary>
    protected GatedTest() => Gate = new LeakGate();

    /// <summary>This test's gate: its log capture, expected warnings and baselines.</summary>
    protected LeakGate Gate { get; }

    /// <summary>The fd count when this test began.</summary>
    protected int FdBaseline => Gate.FdBaseline;

    /// <summary>Checks the gate. Subclasses release what they own first, then call this.</summary>
    public virtual void Dispose()
    {
        Gate.Dispose();
        GC.SuppressFinalize(this);
    }
}
