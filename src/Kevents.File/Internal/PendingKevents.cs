using System.Runtime.CompilerServices;

namespace Kevents.File.Internal;

/// <summary>A loop's kevent-form operations that have not completed, by the id their kevent will carry. Loop thread only.</summary>
internal sealed class PendingKevents
{
    private static readonly ConditionalWeakTable<EventLoop, PendingKevents> s_table = new();

    private readonly Dictionary<ulong, (AioEngine Engine, KeventOperation Op)> _pending = new();
    private ulong _lastId;

    public static PendingKevents Of(EventLoop loop) => s_table.GetValue(loop, static _ => new PendingKevents());

    public int Count => _pending.Count;

    public ulong Add(AioEngine engine, KeventOperation op)
    {
        ulong id = ++_lastId;
        op.KeventId = id;
        _pending.Add(id, (engine, op));
        return id;
    }

    public void Remove(ulong id) => _pending.Remove(id);

    public bool TryGet(ulong id, out AioEngine? engine, out KeventOperation? op)
    {
        if (_pending.TryGetValue(id, out var entry))
        {
            (engine, op) = entry;
            return true;
        }
        engine = null;
        op = null;
        return false;
    }
}
