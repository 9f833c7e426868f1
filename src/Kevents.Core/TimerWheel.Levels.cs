using System.Diagnostics;
using System.Numerics;

namespace Kevents;

// The wheel proper. Level L has 64 slots of 64^L ticks each. A pending timer (deadline after _elapsed) sits at the
// level of the highest 6-bit digit in which its deadline differs from _elapsed, in the slot named by that digit.
// Below the top level this gives two invariants that the rest of the code leans on:
//   * a slot's start tick is a lower bound for every deadline in it, so slots can be visited in start order;
//   * occupied slots lie strictly after _elapsed's own slot at that level, so the next one is found with a rotate
//     and a trailing-zero count, never a scan over empty slots or ticks.
// The top level is a ring: its slot 64^5-tick windows repeat every 2^36 ticks, and a slot at or behind _elapsed's
// means the next lap. Deadlines beyond one lap are parked in the furthest slot (the next lap of the current one) and
// placed again when it comes round, which is never before they are due.
// When a slot's start is reached, its timers are re-placed relative to the new _elapsed: they move down a level,
// or, if their deadline is now, into the due list.
internal sealed partial class TimerWheel
{
    private const int SlotBits = 6;
    private const int SlotsPerLevel = 1 << SlotBits;
    private const int SlotMask = SlotsPerLevel - 1;
    private const int LevelCount = 6;
    private const int TopLevel = LevelCount - 1;
    private const int TopShift = TopLevel * SlotBits;

    private readonly ulong[] _occupied = new ulong[LevelCount];
    private readonly int[] _slotHead = new int[LevelCount * SlotsPerLevel];
    private readonly int[] _slotTail = new int[LevelCount * SlotsPerLevel];

    // Per slot, the smallest deadline placed there since it was last empty. Cancel and Reset do not raise it, so it
    // is a lower bound rather than the exact minimum; that is all NextDueTick promises.
    private readonly long[] _slotMin = new long[LevelCount * SlotsPerLevel];

    // Scratch for sorting the timers that expire together when one slot is processed.
    private long[] _batchSequences = new long[16];
    private int[] _batchEntries = new int[16];

    /// <summary>Slots processed by advancing since construction; tests use it to check that gaps are skipped.</summary>
    internal long SlotsProcessed { get; private set; }

    /// <summary>Puts a live, unlinked entry on the list its deadline calls for.</summary>
    private void Place(int index)
    {
        ref Entry entry = ref _entries[index];
        long due = entry.Due;
        if (due <= _elapsed)
        {
            InsertDue(index);
            return;
        }

        ulong differing = (ulong)(_elapsed ^ due) | SlotMask;
        int level = Math.Min((63 - BitOperations.LeadingZeroCount(differing)) / SlotBits, TopLevel);
        int slot;
        if (level < TopLevel)
        {
            slot = (int)((due >> (level * SlotBits)) & SlotMask);
        }
        else
        {
            // Laps ahead of the present; one lap is as far as the ring can express, so farther deadlines park there.
            long laps = (due >> TopShift) - (_elapsed >> TopShift);
            slot = (int)(((_elapsed >> TopShift) + Math.Min(laps, SlotsPerLevel)) & SlotMask);
        }

        int where = level * SlotsPerLevel + slot;
        AppendToSlot(index, where);
        _occupied[level] |= 1UL << slot;
        if (due < _slotMin[where])
        {
            _slotMin[where] = due;
        }
    }

    /// <summary>
    /// The first tick of the next slot at <paramref name="level"/> among <paramref name="occupied"/> (non-zero), in
    /// time order from <see cref="_elapsed"/>. Saturates at long.MaxValue instead of overflowing.
    /// </summary>
    private long NextSlotStart(int level, ulong occupied, out int slot)
    {
        Debug.Assert(occupied != 0);
        int shift = level * SlotBits;
        int current = (int)((_elapsed >> shift) & SlotMask);
        if (level < TopLevel)
        {
            // Occupied slots are never behind the current one here, so the rotation does not wrap.
            int ahead = BitOperations.TrailingZeroCount(BitOperations.RotateRight(occupied, current));
            Debug.Assert(current + ahead < SlotsPerLevel, "a lower level holds a slot behind the present");
            slot = current + ahead;
            long slotTicks = 1L << shift;
            long levelStart = _elapsed & ~((slotTicks << SlotBits) - 1);
            return levelStart + (slot * slotTicks);
        }

        // On the top ring the current slot itself means the next lap: 1..64 slots ahead.
        int lapsAhead = BitOperations.TrailingZeroCount(BitOperations.RotateRight(occupied, current + 1)) + 1;
        slot = (current + lapsAhead) & SlotMask;
        long window = (_elapsed >> TopShift) + lapsAhead;
        return window > (long.MaxValue >> TopShift) ? long.MaxValue : window << TopShift;
    }

    /// <summary>Moves time forward to <paramref name="target"/>, visiting only occupied slots on the way.</summary>
    private void Advance(long target)
    {
        while (true)
        {
            long bestStart = long.MaxValue;
            int bestLevel = -1;
            int bestSlot = 0;
            for (int level = 0; level < LevelCount; level++)
            {
                ulong occupied = _occupied[level];
                if (occupied == 0)
                {
                    continue;
                }

                // Slot starts at different levels cannot coincide (a level's slot starts are aligned to the whole
                // range of every lower level), but if they ever did the higher level must go first: the top ring has
                // to be visited at the very tick its slot starts, or that slot would read as a full lap away.
                long start = NextSlotStart(level, occupied, out int slot);
                if (start <= bestStart)
                {
                    bestStart = start;
                    bestLevel = level;
                    bestSlot = slot;
                }
            }

            if (bestLevel < 0 || bestStart > target)
            {
                break;
            }

            Debug.Assert(bestStart >= _elapsed);
            _elapsed = bestStart;
            ProcessSlot(bestLevel, bestSlot);
        }

        _elapsed = target;
    }

    /// <summary>
    /// Empties a slot whose start is <see cref="_elapsed"/>: due timers go to the due list in arm order, the rest are
    /// placed again lower down (or, for parked far timers, further round the top ring).
    /// </summary>
    private void ProcessSlot(int level, int slot)
    {
        SlotsProcessed++;
        int where = level * SlotsPerLevel + slot;
        int index = _slotHead[where];
        _slotHead[where] = -1;
        _slotTail[where] = -1;
        _slotMin[where] = long.MaxValue;
        _occupied[level] &= ~(1UL << slot);

        int expired = 0;
        bool inOrder = true;
        long lastSequence = long.MinValue;
        while (index >= 0)
        {
            ref Entry entry = ref _entries[index];
            int next = entry.Next;
            if (entry.Due <= _elapsed)
            {
                // A slot's start bounds its deadlines from below, so everything expiring here is due exactly now.
                Debug.Assert(entry.Due == _elapsed);
                if (expired == _batchEntries.Length)
                {
                    Array.Resize(ref _batchEntries, expired * 2);
                    Array.Resize(ref _batchSequences, expired * 2);
                }

                _batchEntries[expired] = index;
                _batchSequences[expired] = entry.Sequence;
                expired++;
                inOrder &= entry.Sequence > lastSequence;
                lastSequence = entry.Sequence;
            }
            else
            {
                Place(index);
            }

            index = next;
        }

        if (expired == 0)
        {
            return;
        }

        // Slot lists are appended to, so they are in arm order only while every timer reaches a slot in arm order.
        // Ordinary cascading keeps that, but a timer parked beyond the top level's range reaches its true slot late,
        // behind timers with the same deadline armed after it (the property test finds this). So sort unless the
        // batch is already in order, then merge into the due list from its tail; the walk only passes entries that
        // are also due now, since the rest of the due list is earlier.
        if (!inOrder)
        {
            _batchSequences.AsSpan(0, expired).Sort(_batchEntries.AsSpan(0, expired));
        }

        int cursor = _dueTail;
        for (int i = expired - 1; i >= 0; i--)
        {
            cursor = FindDuePredecessor(cursor, _elapsed, _batchSequences[i]);
            LinkDueAfter(_batchEntries[i], cursor);
        }
    }
}
