namespace Kevents;

/// <summary>
/// Called back when a timer started with <see cref="EventLoop.StartTimer(TimeSpan, ILoopTimerTarget)"/> expires. A
/// layer implements it on the object that owns the timeout (a connection, a connector, a server), so arming a timer
/// allocates nothing and needs no registration ident.
/// </summary>
public interface ILoopTimerTarget
{
    /// <summary>
    /// Runs on the loop thread in the timer phase of a turn; the timer is already stopped (its <see cref="LoopTimer"/>
    /// names nothing any more, and stopping it again is harmless). An exception is logged as a handler failure and the
    /// loop goes on.
    /// </summary>
    void OnTimer();
}
