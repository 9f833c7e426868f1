namespace Kevents.Tests;

/// <summary>
/// Base class for tests that must leave the process's descriptors as they found them. xUnit builds a new
/// instance for each test, so every test records the fd count before it starts and, on dispose, fails unless
/// the count settles back to exactly that number.
/// </summary>
/// <remarks>The count is process-wide: the test assembly must disable parallel test execution.</remarks>
public abstract class FdGateTest : IDisposable
{
    /// <summary>Records the baseline.</summary>
    protected FdGateTest() => FdBaseline = TestUtil.OpenFdCount();

    /// <summary>The fd count when this test began.</summary>
    protected int FdBaseline { get; }

    /// <summary>Asserts that the fd count has returned to <see cref="FdBaseline"/>.</summary>
    public virtual void Dispose()
    {
        TestUtil.AssertFdCountReturnsTo(FdBaseline);
        GC.SuppressFinalize(this);
    }
}
