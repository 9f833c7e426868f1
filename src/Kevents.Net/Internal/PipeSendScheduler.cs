using System.IO.Pipelines;

namespace Kevents.Net.Internal;

/// <summary>
/// The reader scheduler of every <see cref="PipeConnection"/>'s output pipe on one loop. While a connection's kevent
/// handler runs application code (the read that fills Input, the application's start), a flush's send continuation
/// is held and run when that handler returns: the send happens in the same turn as the application's write, after
/// all of its writes of that kevent, so one send carries them all. Anywhere else (timers, posted work, other
/// threads) the continuation is posted to the loop, which runs it in the next turn.
/// </summary>
/// <remarks>
/// Posting every send cost a work item and a wait for the next turn per message; holding it here costs a slot in an
/// array the loop reuses. The pipe schedules its reader at most once per awaited read, so a connection's application
/// can flush any number of times in one kevent and still cause one send.
/// </remarks>
internal sealed class PipeSendScheduler : PipeScheduler
{
    private readonly EventLoop _loop;
    private (Action<object?> Callback, object? State)[] _held = new (Action<object?>, object?)[16];
    private int _count;
    private int _depth;

    public PipeSendScheduler(EventLoop loop) => _loop = loop;

    /// <summary>The loop's scheduler (kept in <see cref="NetLoop"/>).</summary>
    public static PipeSendScheduler For(EventLoop loop) => NetLoop.Of(loop).PipeSends;

    public override void Schedule(Action<object?> action, object? state)
    {
        if (_depth > 0 && _loop.IsOnLoopThread)
        {
            if (_count == _held.Length)
            {
                Array.Resize(ref _held, _held.Length * 2);
            }
            _held[_count++] = (action, state);
            return;
        }
        _loop.Post(action, state);
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
        // Sends run outside any handler (depth 0), so what they schedule in turn is posted, never held for a scope
        // that has already ended.
        int i = 0;
        try
        {
            for (; i < _count; i++)
            {
                (Action<object?> callback, object? state) = _held[i];
                _held[i] = default;
                callback(state);
            }
        }
        catch
        {
            // The connection's send path catches its own failures, so this is a scheduler contract breach; the rest
            // still run, in the next turn, rather than be lost.
            for (i++; i < _count; i++)
            {
                _loop.Post(_held[i].Callback, _held[i].State);
                _held[i] = default;
            }
            throw;
        }
        finally
        {
            _count = 0;
        }
    }
}
