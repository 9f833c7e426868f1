namespace Kevents.Tests;

/// <summary>
/// Base of the tests that need a loop running on its own thread from construction to disposal: disposal stops the
/// loop, waits for its thread and disposes it before the leak gate is checked, so whatever the loop still held counts
/// against the test.
/// </summary>
public abstract class RunningLoopTest : GatedTest
{
    /// <summary>The bound on every wait: generous, since the machine running the tests may be slow and shared.</summary>
    protected static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    private readonly Task _running;

    static RunningLoopTest() => RuntimeWarmUp.Sockets();

    protected RunningLoopTest()
    {
        var options = new EventLoopOptions { LoggerFactory = Gate.LoggerFactory, Name = GetType().Name, Backend = Backend };
        Configure(options);
        Loop = new EventLoop(options);
        _running = Loop.RunAsync();
    }

    protected EventLoop Loop { get; }

    /// <summary>
    /// The poller backend of <see cref="Loop"/> (read in the constructor, so an override must return a constant); the
    /// io_uring suites override it.
    /// </summary>
    protected virtual LoopBackend Backend => LoopBackend.Epoll;

    /// <summary>Adjusts the loop's options before it is made (called from the constructor: use constants only).</summary>
    protected virtual void Configure(EventLoopOptions options)
    {
    }

    /// <summary>Runs <paramref name="work"/> on the loop thread and returns its result.</summary>
    protected Task<T> OnLoop<T>(Func<T> work) => Loop.InvokeAsync(work);

    /// <summary>Runs <paramref name="work"/> on the loop thread.</summary>
    protected Task OnLoop(Action work) => Loop.InvokeAsync(work);

    public override void Dispose()
    {
        Loop.Stop();
        Assert.True(_running.Wait(Limit), "the loop did not stop");
        Loop.Dispose();
        base.Dispose();
    }
}
