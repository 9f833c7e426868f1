namespace Kevents;

/// <summary>
/// The <see cref="SynchronizationContext"/> installed on a loop's thread while it runs: continuations of
/// <c>await</c> inside handlers come back to the loop thread, in the order they were posted.
/// </summary>
internal sealed class EventLoopSynchronizationContext : SynchronizationContext
{
    /// <summary>Creates the context of <paramref name="loop"/>.</summary>
    public EventLoopSynchronizationContext(EventLoop loop) => Loop = loop ?? throw new ArgumentNullException(nameof(loop));

    /// <summary>The loop continuations run on.</summary>
    public EventLoop Loop { get; }

    /// <summary>Queues <paramref name="d"/> to run on the loop thread.</summary>
    public override void Post(SendOrPostCallback d, object? state) => Loop.PostCallback(d, state);

    /// <summary>Runs <paramref name="d"/> at once on the loop thread; from another thread, posts it and waits.</summary>
    public override void Send(SendOrPostCallback d, object? state)
    {
        if (Loop.IsOnLoopThread)
        {
            d(state);
            return;
        }
        using var done = new ManualResetEventSlim();
        Exception? error = null;
        Loop.Post(_ =>
        {
            try
            {
                d(state);
            }
            catch (Exception ex)
            {
                error = ex;
            }
            finally
            {
                done.Set();
            }
        }, null);
        done.Wait();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
    }

    /// <inheritdoc />
    public override SynchronizationContext CreateCopy() => this;
}
