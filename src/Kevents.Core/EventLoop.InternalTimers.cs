using Kevents.Internal;

namespace Kevents;

// Every armed timer owns a slot in a slab of targets; the wheel's payload is the slot. A target is either a timer
// registration (Kevent.Timer) or a layer's ILoopTimerTarget, so a connection's idle timeout costs one wheel
// entry and one array slot, with no dictionary and no allocation per arm.
public sealed partial class EventLoop
{
    private object?[] _timerTargets = new object?[16];
    private TimerHandle[] _timerTargetHandles = new TimerHandle[16];
    private int[] _freeTimerSlots = new int[16];
    private int _freeTimerSlotCount;
    private int _timerSlotsUsed;

    /// <summary>
    /// Starts a one-shot timer that calls <paramref name="target"/>'s <see cref="ILoopTimerTarget.OnTimer"/> on the loop
    /// thread after <paramref name="delay"/>, never earlier (the loop's timers have millisecond ticks, so it may be up to
    /// a tick later). This is the timer for layers: a timeout per connection or per request, armed and stopped often.
    /// </summary>
    /// <remarks>
    /// <para><b>Threading.</b> Loop thread only, or while the loop is not running, like <see cref="StopTimer"/>.</para>
    /// <para><b>Cost.</b> No allocation once the loop's timer slab has grown to the number of live timers: one wheel
    /// entry and one array slot, O(1) to start and to stop. Keep the returned <see cref="LoopTimer"/> in a field and pass
    /// it to <see cref="StopTimer"/> to cancel; to re-arm, stop and start again.</para>
    /// <para>The delay counts from the moment of the call (the clock is read afresh), not from the start of the turn.
    /// Negative delays are treated as zero: the timer fires in the next timer phase.</para>
    /// </remarks>
    /// <returns>The running timer, for <see cref="StopTimer"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called on another thread while the loop runs.</exception>
    public LoopTimer StartTimer(TimeSpan delay, ILoopTimerTarget target) =>
        StartTimer(delay <= TimeSpan.Zero ? 0 : delay.Ticks > long.MaxValue / 100 ? long.MaxValue : delay.Ticks * 100, target);

    /// <summary>
    /// Starts a one-shot timer that calls <paramref name="target"/> after <paramref name="delayNanoseconds"/>; the form
    /// for layers that keep deadlines in nanoseconds of <see cref="NowNanoseconds"/>. Everything said for
    /// <see cref="StartTimer(TimeSpan, ILoopTimerTarget)"/> holds here.
    /// </summary>
    /// <returns>The running timer, for <see cref="StopTimer"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="target"/> is null.</exception>
    /// <exception cref="InvalidOperationException">Called on another thread while the loop runs.</exception>
    public LoopTimer StartTimer(long delayNanoseconds, ILoopTimerTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        VerifyAccess(nameof(StartTimer));
        long delayNs = Math.Max(0, delayNanoseconds);
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

    /// <summary>
    /// Stops <paramref name="timer"/> and resets it to <c>default</c>. Harmless when the timer already fired, was stopped
    /// before, or is <c>default</c>: a <see cref="LoopTimer"/> that outlived its timer never stops another one, even
    /// after its slot was reused, or the loop was disposed. Loop thread only (or while the loop is not running); O(1), no
    /// allocation.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called on another thread while the loop runs.</exception>
    public void StopTimer(ref LoopTimer timer)
    {
        if (timer.IsNone)
        {
            return;
        }
        if (Volatile.Read(ref _state) == StateDisposed)
        {
            // The wheel went with the loop; a layer tidying up after the loop's disposal has nothing left to stop.
            timer = default;
            return;
        }
        VerifyAccess(nameof(StopTimer));
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

/// <summary>
/// A timer started with <see cref="EventLoop.StartTimer(TimeSpan, ILoopTimerTarget)"/>, to stop it with
/// <see cref="EventLoop.StopTimer(ref LoopTimer)"/>. A small value: keep it in a field of the timer's owner.
/// <c>default</c> names no timer.
/// </summary>
/// <remarks>A <see cref="LoopTimer"/> does not learn that its timer fired; the owner knows that from
/// <see cref="ILoopTimerTarget.OnTimer"/> and may reset its field there.</remarks>
public readonly struct LoopTimer : IEquatable<LoopTimer>
{
    internal LoopTimer(int slot, TimerHandle handle)
    {
        Slot = slot;
        Handle = handle;
    }

    internal int Slot { get; }

    internal TimerHandle Handle { get; }

    /// <summary>True for <c>default</c> and after <see cref="EventLoop.StopTimer(ref LoopTimer)"/>: it names no timer.</summary>
    public bool IsNone => Handle.IsNone;

    /// <inheritdoc/>
    public bool Equals(LoopTimer other) => Slot == other.Slot && Handle == other.Handle;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is LoopTimer other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Slot, Handle);

    /// <summary>True when both name the same timer (or both none).</summary>
    public static bool operator ==(LoopTimer left, LoopTimer right) => left.Equals(right);

    /// <summary>False when both name the same timer (or both none).</summary>
    public static bool operator !=(LoopTimer left, LoopTimer right) => !left.Equals(right);
}
