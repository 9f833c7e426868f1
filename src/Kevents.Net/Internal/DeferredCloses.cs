namespace Kevents.Net.Internal;

/// <summary>
/// The connections of one loop whose close notification (or ConnectionClosed cancellation) is waiting in the loop's
/// posted work. A loop being disposed drops its posted work, so <see cref="NetLoop"/> delivers these first: an
/// application is always told that its connection closed, and its pipes always complete.
/// </summary>
internal sealed class DeferredCloses
{
    private readonly HashSet<Connection> _pending = new(ReferenceEqualityComparer.Instance);

    /// <summary>The loop's deferred closes, created on first use.</summary>
    /// <exception cref="ObjectDisposedException">The loop was disposed before Net first used it.</exception>
    public static DeferredCloses For(EventLoop loop) => NetLoop.Of(loop).DeferredCloses;

    /// <summary>The loop's deferred closes if they exist; never creates them, so safe after the loop was disposed.</summary>
    public static DeferredCloses? Find(EventLoop loop) => NetLoop.Find(loop)?.DeferredCloses;

    public void Add(Connection connection)
    {
        lock (_pending)
        {
            _pending.Add(connection);
        }
    }

    public void Remove(Connection connection)
    {
        lock (_pending)
        {
            _pending.Remove(connection);
        }
    }

    public void DeliverAll()
    {
        Connection[] pending;
        lock (_pending)
        {
            pending = [.. _pending];
            _pending.Clear();
        }
        foreach (Connection connection in pending)
        {
            connection.RunDeferredClose();
        }
    }
}
