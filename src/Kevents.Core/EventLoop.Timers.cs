using Kevents.Internal;

namespace Kevents;

// Timers: registrations of KeventFilter.Timer live in the hierarchical timing wheel with millisecond ticks.
public sealed partial class EventLoop
{
    private const long NanosPerTick = 1_000_000;

    private readonly TimerWheel _timers;

    /// <summary>The loop's tick (milliseconds) for a time in nanoseconds, rounded down: the tick that has begun.</summary>
    private static long TickOf(long nanos) => nanos / NanosPerTick;

    /// <summary>The first tick at or after a deadline, so that a timer never fires before its deadline.</summary>
    private static long DueTickOf(long deadlineNanos) => deadlineNanos / NanosPerTick + (deadlineNanos % NanosPerTick == 0 ? 0 : 1);

    private int RegisterTimer(in Kevent kevent, KeventHandler? handler)
    {
        if (kevent.Data < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(kevent), kevent.Data, "A timer interval cannot be negative; build timers with Kevent.Timer.");
        }
        bool periodic = (kevent.FilterFlags & (uint)TimerFilterFlags.Periodic) != 0;
        if (periodic && kevent.Data < NanosPerTick)
        {
            throw new ArgumentOutOfRangeException(nameof(kevent), kevent.Data, "A periodic timer needs an interval of at least 1 ms.");
        }
        var key = new KeventKey(kevent.Ident, KeventFilter.Timer);
        if (_registrations.TryGetValue(key, out KeyedRegistration? reg))
        {
            // Re-registering a timer restarts it with the new interval, as EV_ADD on an existing kqueue timer does.
            DisarmTimer(reg);
            reg.Kevent = kevent;
            reg.Handler = handler;
            reg.Enabled = true;
            ApplyEnableFlags(reg, kevent.Flags);
        }
        else
        {
            reg = new KeyedRegistration(kevent, handler) { Epoch = NextEpoch() };
            _registrations.Add(key, reg);
        }
        reg.PeriodNs = periodic ? kevent.Data : 0;
        if (reg.Enabled)
        {
            ArmTimer(reg, kevent.Data);
        }
        return reg.Epoch;
    }

    private void ArmTimer(KeyedRegistration reg, long intervalNs)
    {
        // Measured from the moment of the call, not from the start of the turn: a timer armed late in a long
        // handler must still not fire before its interval has passed since it was armed.
        long now = ReadClock();
        reg.DeadlineNs = intervalNs > long.MaxValue - now ? long.MaxValue : now + intervalNs;
        reg.Timer = ArmSlot(reg.DeadlineNs, reg);
    }

    private void DisarmTimer(KeyedRegistration reg) => StopTimer(ref reg.Timer);

    private void FireTimers(Span<Kevent> output, ref int written)
    {
        long nowTick = TickOf(_nowNs);
        // A handler that re-arms a zero-delay timer would otherwise keep this phase busy forever: at most the
        // timers that existed when the phase began fire now; the rest wait for the next turn.
        int budget = _timers.Count;
        while (budget-- > 0 && _timers.TryPopExpired(nowTick, out TimerHandle handle, out ulong slot))
        {
            object? target = TakeExpiredTarget(handle, slot);
            if (target is ILoopTimerTarget internalTarget)
            {
                FireInternalTimer(internalTarget);
                continue;
            }
            if (target is not KeyedRegistration reg || !reg.Live)
            {
                continue;
            }
            ulong ident = reg.Kevent.Ident;
            _metrics.TimersFired++;
            long expirations = 1;
            reg.Timer = default;
            if (reg.PeriodNs > 0)
            {
                // A loop that fell behind delivers once, with the number of periods that elapsed, and the next
                // deadline stays on the original schedule: no burst of catch-up deliveries.
                if (_nowNs > reg.DeadlineNs)
                {
                    expirations += (_nowNs - reg.DeadlineNs) / reg.PeriodNs;
                }
                reg.DeadlineNs += expirations * reg.PeriodNs;
                if (!reg.IsDispatch && !reg.IsOneshot)
                {
                    reg.Timer = ArmSlot(reg.DeadlineNs, reg);
                }
            }

            KeventHandler? handler = reg.Handler;
            var kevent = new Kevent(ident, KeventFilter.Timer, reg.Kevent.Flags & RequestFlags, reg.Kevent.FilterFlags, expirations, reg.Kevent.UserData);
            if (reg.IsOneshot || reg.PeriodNs == 0 && !reg.IsDispatch)
            {
                // One-shot timers are done once they fire.
                _registrations.Remove(new KeventKey(ident, KeventFilter.Timer));
                Retire(reg);
            }
            else if (reg.IsDispatch)
            {
                reg.Enabled = false;
            }
            Deliver(kevent, handler, output, ref written);
        }
    }
}
