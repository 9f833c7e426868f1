namespace Kevents.File.Internal;

/// <summary>
/// A loop's kevent-form operations that have not completed, by the id their kevent will carry. Loop thread, except
/// that at shutdown an operation whose system call outlived the hook completes (and leaves) from its worker: locked.
/// </summary>
internal sealed class PendingKevents
{
    private readonly Dictionary<ulong, (AioEngine Engine, KeventOperation Op)> _pending = new();
    private readonly EventLoop _loop;

    private PendingKevents(EventLoop loop) => _loop = loop;

    /// <summary>The loop's pending kevent-form operations, kept as the loop's feature.</summary>
    public static PendingKevents Of(EventLoop loop) => loop.GetOrAddFeature(static l => new PendingKevents(l));

    public int Count
    {
        get
        {
            lock (_pending)
            {
                return _pending.Count;
            }
        }
    }

    public ulong Add(AioEngine engine, KeventOperation op)
    {
        lock (_pending)
        {
            // The loop's allocator, shared with threadlet submissions: no id names pending work of both kinds.
            ulong id = _loop.AllocateIdent();
            op.KeventId = id;
            _pending.Add(id, (engine, op));
            return id;
        }
    }

    public void Remove(ulong id)
    {
        lock (_pending)
        {
            _pending.Remove(id);
        }
    }

    public bool TryGet(ulong id, out AioEngine? engine, out KeventOperation? op)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(id, out var entry))
            {
                (engine, op) = entry;
                return true;
            }
        }
        engine = null;
        op = null;
        return false;
    }
}
