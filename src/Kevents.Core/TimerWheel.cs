using System.Diagnostics;

namespace Kevents;

/// <summary>
/// A hierarchical timing wheel (Varghese and Lauck) holding one-shot timers with abstract integer deadlines.
/// The event loop uses milliseconds; the wheel itself only compares ticks.
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> Not thread-safe. One thread (the loop thread) owns a wheel and makes every call.</para>
/// <para><b>Cost.</b> <see cref="Arm"/>, <see cref="Reset"/> and <see cref="Cancel"/> are O(1) and allocate nothing
/// once the internal slab has grown to the peak population (it grows by doubling). The one exception: arming a
/// deadline that is already in the past walks back over expired, not yet popped timers with a later deadline.
/// Advancing costs one step per occupied slot passed, never one per tick, so long idle gaps are cheap.</para>
/// <para><b>Lazy reset.</b> <see cref="Reset"/> to a later deadline leaves the timer in its slot and files it again
/// when that slot comes up, so resetting an idle timeout on every read stays cheap. The price is that
/// <see cref="NextDueTick"/> may then report the old, earlier deadline.</para>
/// <para><b>Never early.</b> A timer due at tick <c>d</c> is popped only by a
/// <see cref="TryPopExpired"/> call whose <c>nowTick</c> is at least <c>d</c>.</para>
/// <para><b>Ordering.</b> Expired timers pop in order of deadline, and timers with the same deadline pop in the order
/// they were armed; <see cref="Reset"/> counts as arming again.</para>
/// <para><b>Range.</b> Six levels of 64 slots cover 2^36 ticks (about 2.2 years of milliseconds). Later deadlines
/// park in the top level and are re-examined each time their slot comes round, until they are due.</para>
/// </remarks>
internal sealed partial class TimerWheel
{
    private long _elapsed;
    private long _sequence;
    private int _count;

    /// <summary>Creates an empty wheel.</summary>
    /// <param name="startTick">The tick the wheel starts at; <see cref="CurrentTick"/> until the first advance.</param>
    /// <param name="initialCapacity">How many timers to make room for before the first growth.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="initialCapacity"/> is negative.</exception>
    public TimerWheel(long startTick = 0, int initialCapacity = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _elapsed = startTick;
        _entries = new Entry[Math.Max(initialCapacity, 4)];
        _slotHead.AsSpan().Fill(-1);
        _slotTail.AsSpan().Fill(-1);
        _slotMin.AsSpan().Fill(long.MaxValue);
    }

    /// <summary>Live timers: armed and not yet popped or cancelled.</summary>
    public int Count => _count;

    /// <summary>The tick the wheel has advanced to: the largest <c>nowTick</c> given to
    /// <see cref="TryPopExpired"/> so far, or the start tick.</summary>
    public long CurrentTick => _elapsed;

    /// <summary>Arms a one-shot timer.</summary>
    /// <param name="dueTick">The deadline. At or before <see cref="CurrentTick"/>, the timer is due at once and the
    /// next <see cref="TryPopExpired"/> call (with a <c>nowTick</c> at or past it) returns it, in deadline order.</param>
    /// <param name="payload">An opaque value handed back when the timer pops.</param>
    /// <returns>A handle for <see cref="Reset"/>, <see cref="Cancel"/> and <see cref="IsArmed"/>; never
    /// <c>default</c>.</returns>
    public TimerHandle Arm(long dueTick, ulong payload)
    {
        int index = AllocateEntry();
        ref Entry entry = ref _entries[index];
        entry.Due = dueTick;
        entry.Sequence = ++_sequence;
        entry.Payload = payload;
        _count++;
        Place(index);
        return new TimerHandle(index, entry.Generation);
    }

    /// <summary>
    /// Moves a live timer to a new deadline, keeping its handle and payload. For same-deadline ordering this counts
    /// as arming it afresh. A timer that has expired but not yet been popped can be reset too.
    /// </summary>
    /// <returns>False, changing nothing, if the handle does not name a live timer.</returns>
    public bool Reset(TimerHandle handle, long dueTick)
    {
        if (!TryGetLive(handle, out int index))
        {
            return false;
        }

        ref Entry entry = ref _entries[index];
        entry.Sequence = ++_sequence;
        if (entry.Where >= 0 && dueTick >= entry.Due)
        {
            // Pushed later while still in the wheel: the slot's start stays a lower bound, so leave the timer where it
            // is; when that slot comes up it is filed again by its new deadline. This is the idle-timeout pattern
            // (reset on every read), and skipping the unlink saves touching two random neighbours in a large slab
            // (TimerBenchmarks.WheelReset with a million timers: about 100 ns per reset with the unlink).
            entry.Due = dueTick;
            return true;
        }

        Unlink(index);
        entry.Due = dueTick;
        Place(index);
        return true;
    }

    /// <summary>
    /// Cancels a live timer. A timer that has expired but has not been popped yet is cancelled too and will not be
    /// popped.
    /// </summary>
    /// <returns>False if the handle does not name a live timer (it already popped, was cancelled, or is
    /// <c>default</c>).</returns>
    public bool Cancel(TimerHandle handle)
    {
        if (!TryGetLive(handle, out int index))
        {
            return false;
        }

        Unlink(index);
        Free(index);
        return true;
    }

    /// <summary>True if the handle names a live timer: armed, and not yet popped or cancelled.</summary>
    public bool IsArmed(TimerHandle handle) => TryGetLive(handle, out _);

    /// <summary>
    /// A tick at or before the earliest live deadline, for computing how long the loop may sleep; long.MaxValue
    /// when no timer is live. It is exact when the earliest timer is already expired, or close (within the current
    /// 64-tick block) and not pushed later by <see cref="Reset"/>. Otherwise it may be earlier than the deadline,
    /// never later: the loop may wake early, find nothing to pop, and ask again.
    /// </summary>
    public long NextDueTick()
    {
        if (_dueHead >= 0)
        {
            return _entries[_dueHead].Due;
        }

        long earliest = long.MaxValue;
        for (int level = 0; level < LevelCount; level++)
        {
            ulong occupied = _occupied[level];
            if (occupied == 0)
            {
                continue;
            }

            NextSlotStart(level, occupied, out int slot);
            long bound = _slotMin[level * SlotsPerLevel + slot];
            if (level == TopLevel)
            {
                // Parked far timers can make the first top slot's minimum later than what the next top slot holds,
                // but nothing in a later slot is due before that slot starts.
                ulong rest = occupied & ~(1UL << slot);
                if (rest != 0)
                {
                    bound = Math.Min(bound, NextSlotStart(level, rest, out _));
                }
            }

            earliest = Math.Min(earliest, bound);
        }

        return earliest;
    }

    /// <summary>
    /// Advances the wheel to <paramref name="nowTick"/> (if it is later than <see cref="CurrentTick"/>) and pops the
    /// earliest expired timer, if any. Call it repeatedly with the same <paramref name="nowTick"/> to drain. Between
    /// calls the caller may arm, reset and cancel freely; a timer armed with a deadline at or before
    /// <paramref name="nowTick"/> joins the drain in deadline order.
    /// </summary>
    /// <param name="nowTick">The present. A value before <see cref="CurrentTick"/> does not move the wheel back, and
    /// only timers due at or before it pop.</param>
    /// <param name="handle">The popped timer's handle, no longer live; <c>default</c> when nothing popped.</param>
    /// <param name="payload">The popped timer's payload; zero when nothing popped.</param>
    /// <returns>True if a timer popped.</returns>
    public bool TryPopExpired(long nowTick, out TimerHandle handle, out ulong payload)
    {
        if (nowTick > _elapsed)
        {
            Advance(nowTick);
        }

        int index = _dueHead;
        if (index >= 0 && _entries[index].Due <= nowTick)
        {
            ref Entry entry = ref _entries[index];
            Debug.Assert(entry.Where == WhereDue);
            handle = new TimerHandle(index, entry.Generation);
            payload = entry.Payload;
            Unlink(index);
            Free(index);
            return true;
        }

        handle = default;
        payload = 0;
        return false;
    }
}
