namespace Kevents.Net.Internal;

/// <summary>
/// Holds the sends of one loop's <see cref="PipeConnection"/>s while a connection's kevent handler runs application
/// code (the read that fills Input, the application's start): a flush in there is sent when that handler returns, in
/// the same turn as the application's write and after all of its writes of that kevent, so one send carries them all.
/// Anywhere else (timers, posted work, other threads) the connection posts its send to the loop's next turn.
/// </summary>
/// <remarks>
/// A connection is held at most once at a time (it marks itself queued), so an application can flush any number of
/// times in one kevent and still cause one send. Holding costs a slot in an array the loop reuses.
/// </remarks>
internal sealed class PipeSendScheduler(EventLoop loop)
{
    private PipeConnection?[] _held = new PipeConnection?[16];

    /// <summary>The loop's segment pools, reached from here so that a connection keeps one reference for both.</summary>
    public PipePools Pools { get; } = new PipePools(loop);
    private int _count;
    private int _depth;

    /// <summary>The loop's scheduler (kept in <see cref="NetLoop"/>).</summary>
    public static PipeSendScheduler For(EventLoop loop) => NetLoop.Of(loop).PipeSends;

    /// <summary>Holds <paramref name="connection"/>'s send for the end of the running handler; false outside one.</summary>
    public bool TryHold(PipeConnection connection)
    {
        if (_depth == 0 || !loop.IsOnLoopThread)
        {
            return false;
        }
        if (_count == _held.Length)
        {
            Array.Resize(ref _held, _held.Length * 2);
        }
        _held[_count++] = connection;
        return true;
    }

    /// <summary>A kevent handler that may run application code begins. Loop thread only; pair with <see cref="Exit"/>.</summary>
    public void Enter() => _depth++;

    /// <summary>The handler ends: the outermost one runs the held sends. Loop thread only.</summary>
    public void Exit()
    {
        if (--_depth > 0 || _count == 0)
        {
            return;
        }
        // Sends run outside any handler (depth 0): what they cause in turn is posted, never held for a scope that has
        // already ended. The connections catch their own failures.
        for (int i = 0; i < _count; i++)
        {
            PipeConnection connection = _held[i]!;
            _held[i] = null;
            connection.RunQueuedSend();
        }
        _count = 0;
    }
}
