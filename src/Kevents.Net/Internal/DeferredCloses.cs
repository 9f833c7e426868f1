using System.Runtime.CompilerServices;

namespace Kevents.Net.Internal;

/// <summary>
/// The connections of one loop whose close notification (or ConnectionClosed cancellation) is waiting in the loop's
/// posted work. A loop being disposed drops its posted work, so its shutdown hook delivers these first: an
/// application is always told that its connection closed, and its pipes always complete.
/// </summary>
internal sealed class DeferredCloses
{
    private static readonly ConditionalWeakTable<EventLoop, DeferredCloses> s_perLoop = new();

    private readonly HashSet<Connection> _pending = new(ReferenceEqualityComparer.Instance);

    public static DeferredCloses For(EventLoop loop) => s_perLoop.GetValue(loop, static l =>
    {
        var closes = new DeferredCloses();
        l.AddShutdownHook(closes.DeliverAll);
        return closes;
    });

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

    private void DeliverAll()
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
