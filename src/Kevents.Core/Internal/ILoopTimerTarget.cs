namespace Kevents.Internal;

/// <summary>
/// Something the loop calls back when an internal timer expires: idle and connect timeouts of the layers above
/// Core, which need a timer per connection and must not pay for a keyed registration.
/// </summary>
internal interface ILoopTimerTarget
{
    /// <summary>Runs on the loop thread in the timer phase; the timer is already stopped.</summary>
    void OnTimer();
}
