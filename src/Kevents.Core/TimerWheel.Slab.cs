using System.Diagnostics;

namespace Kevents;

// Storage: every timer is one Entry in a growable array (the slab). Free entries form a singly linked list through
// Entry.Next. Live entries sit on exactly one intrusive doubly linked list, named by Entry.Where: a wheel slot, or the
// sorted list of expired timers waiting to be popped.
internal sealed partial class TimerWheel
{
    private const int WhereFree = -1;
    private const int WhereDue = -2;

    private Entry[] _entries;
    private int _highWater;      // Entries at and past this index have never been used.
    private int _freeHead = -1;

    // Expired timers not yet popped, sorted by (Due, Sequence); every Due here is at or before _elapsed.
    private int _dueHead = -1;
    private int _dueTail = -1;

    // Forty bytes: the budget is 48 per live timer, and doubling keeps the slab at most half empty.
    private struct Entry
    {
        public long Due;
        public long Sequence;    // Arm order; Reset takes a new one.
        public ulong Payload;
        public int Next;
        public int Prev;
        public uint Generation;  // Bumped on free, so handles to earlier occupants stop matching.
        public int Where;        // A slot number (level * 64 + slot), WhereDue or WhereFree.
    }

    private bool TryGetLive(TimerHandle handle, out int index)
    {
        index = handle.Index;
        if ((uint)index >= (uint)_highWater)
        {
            return false;
        }

        ref Entry entry = ref _entries[index];
        return entry.Generation == handle.Generation && entry.Where != WhereFree;
    }

    private int AllocateEntry()
    {
        int index = _freeHead;
        if (index >= 0)
        {
            _freeHead = _entries[index].Next;
            return index;
        }

        if (_highWater == _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        return _highWater++;
    }

    private void Free(int index)
    {
        ref Entry entry = ref _entries[index];
        entry.Generation++;
        entry.Where = WhereFree;
        entry.Prev = -1;
        entry.Next = _freeHead;
        _freeHead = index;
        _count--;
    }

    /// <summary>Takes a live entry off whichever list holds it.</summary>
    private void Unlink(int index)
    {
        ref Entry entry = ref _entries[index];
        int next = entry.Next;
        int prev = entry.Prev;
        if (entry.Where == WhereDue)
        {
            if (prev >= 0) { _entries[prev].Next = next; } else { _dueHead = next; }
            if (next >= 0) { _entries[next].Prev = prev; } else { _dueTail = prev; }
            return;
        }

        int where = entry.Where;
        Debug.Assert(where >= 0 && where < LevelCount * SlotsPerLevel);
        if (prev >= 0) { _entries[prev].Next = next; } else { _slotHead[where] = next; }
        if (next >= 0) { _entries[next].Prev = prev; } else { _slotTail[where] = prev; }
        if (_slotHead[where] < 0)
        {
            _occupied[where / SlotsPerLevel] &= ~(1UL << (where % SlotsPerLevel));
            _slotMin[where] = long.MaxValue;
        }
    }

    private void AppendToSlot(int index, int where)
    {
        ref Entry entry = ref _entries[index];
        int tail = _slotTail[where];
        entry.Where = where;
        entry.Next = -1;
        entry.Prev = tail;
        if (tail >= 0) { _entries[tail].Next = index; } else { _slotHead[where] = index; }
        _slotTail[where] = index;
    }

    /// <summary>
    /// Walks back from <paramref name="cursor"/> along the due list past every entry that sorts after
    /// (<paramref name="due"/>, <paramref name="sequence"/>); returns where such an entry belongs after (-1: the head).
    /// </summary>
    private int FindDuePredecessor(int cursor, long due, long sequence)
    {
        while (cursor >= 0)
        {
            ref Entry entry = ref _entries[cursor];
            if (entry.Due < due || (entry.Due == due && entry.Sequence < sequence))
            {
                break;
            }

            cursor = entry.Prev;
        }

        return cursor;
    }

    private void LinkDueAfter(int index, int predecessor)
    {
        ref Entry entry = ref _entries[index];
        entry.Where = WhereDue;
        entry.Prev = predecessor;
        int next = predecessor >= 0 ? _entries[predecessor].Next : _dueHead;
        entry.Next = next;
        if (predecessor >= 0) { _entries[predecessor].Next = index; } else { _dueHead = index; }
        if (next >= 0) { _entries[next].Prev = index; } else { _dueTail = index; }
    }

    private void InsertDue(int index)
    {
        ref Entry entry = ref _entries[index];
        LinkDueAfter(index, FindDuePredecessor(_dueTail, entry.Due, entry.Sequence));
    }
}
