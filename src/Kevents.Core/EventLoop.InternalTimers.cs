using Kevents.Internal;

namespace Kevents;

// Every armed timer owns a slot in a slab of targets; the wheel's payload is the slot. A target is either a timer
// registration (Kevent.Timer) or an internal ILoopTimerTarget, so a connection's idle timeout costs one wheel
// entry and one array slot, with no dictionary and no allocation per arm.
public sealed partial class EventLoop
{
    private object?[] _timerTargets = new object?[16];
    private TimerHandle[] _timerTargetHandles = new TimerHandle[16];
    private int[] _freeTimerSlots = new int[16];
    private int _freeTimerSlotCount;
    private int _timerSlotsUsed;

    /// <summary>Starts a timer that calls <paramref name="target"/> after <paramref name="delayNs"/> (never earlier). Loop thread only.</summary>
    /// <returns>A token for <see cref="StopTimer"/>.</returns>
    internal LoopTimer StartTimer(long delayNs, ILoopTimerTarget target)
    {
        AssertOnLoop();
        long now = ReadClock();
        return ArmSlot(delayNs > long.MaxValue - now ? long.MaxValue : now + delayNs, target);
    }

    private LoopTimer ArmSlot(long deadlineNs, object target)
    {
        int slot;
        if (_freeTimerSlotCount > 0)
        {
            slot = _freeTimerSlots[--_freeTimerSlotCount];
        }
        else
        {
            if (_timerSlotsUsed == _timerTargets.Length)
            {
                Array.Resize(ref _timerTargets, _timerTargets.Length * 2);
                Array.Resize(ref _timerTargetHandles, _timerTargetHandles.Length * 2);
            }
            slot = _timerSlotsUsed++;
        }
        TimerHandle handle = _timers.Arm(DueTickOf(deadlineNs), (ulong)(uint)slot);
        _timerTargets[slot] = target;
        _timerTargetHandles[slot] = handle;
        _metrics.TimersArmed++;
        return new LoopTimer(slot, handle);
    }

    /// <summary>Stops a timer started with <see cref="StartTimer"/>; harmless when it already fired or was stopped.</summary>
    internal void StopTimer(ref LoopTimer timer)
    {
        AssertOnLoop();
        if (timer.IsNone)
        {
            return;
        }
        int slot = timer.Slot;
        if ((uint)slot < (uint)_timerSlotsUsed && _timerTargetHandles[slot] == timer.Handle && _timerTargets[slot] is not null)
        {
            _timers.Cancel(timer.Handle);
            ReleaseTimerSlot(slot);
        }
        timer = default;
    }

    private void ReleaseTimerSlot(int slot)
    {
        _timerTargets[slot] = null;
        _timerTargetHandles[slot] = default;
        if (_freeTimerSlotCount == _freeTimerSlots.Length)
        {
            Array.Resize(ref _freeTimerSlots, _freeTimerSlots.Length * 2);
        }
        _freeTimerSlots[_freeTimerSlotCount++] = slot;
    }

    /// <summary>The target of a timer popped from the wheel, with its slot released; null when it was stopped meanwhile.</summary>
    private object? TakeExpiredTarget(TimerHandle handle, ulong payload)
    {
        int slot = (int)payload;
        object? target = _timerTargets[slot];
        if (target is null || _timerTargetHandles[slot] != handle)
        {
            return null;
        }
        ReleaseTimerSlot(slot);
        return target;
    }

    private void FireInternalTimer(ILoopTimerTarget target)
    {
        _metrics.TimersFired++;
        _metrics.Dispatched[(int)KeventFilter.Timer]++;
        try
        {
            target.OnTimer();
        }
        catch (Exception ex)
        {
            _metrics.HandlerErrors++;
            Log.HandlerFailed(_logger, $"{target.GetType().FullName}.{nameof(ILoopTimerTarget.OnTimer)}", new Kevent(0, KeventFilter.Timer), ex);
        }
    }
}

/// <summary>A running internal timer: its slab slot and wheel handle. Default is "no timer".</summary>
internal readonly record struct LoopTimer(int Slot, TimerHandle Handle)
{
    public bool IsNone => Handle.IsNone;
}
