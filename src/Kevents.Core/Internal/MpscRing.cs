using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kevents.Internal;

// Protocol
//
// Storage. A bounded ring of cells, each with a sequence number (Vyukov's bounded queue), plus an
// overflow Queue<T> guarded by _overflowLock, plus _overflowActive, which is true exactly while the
// overflow holds items (it is only changed under the lock). The consumer also owns _drained, a
// batch of items it took out of the overflow in one go and hands out before anything else.
//
// Cell states for position p (cell index p & mask): Sequence == p means free for the producer that
// claims p; Sequence == p + 1 means published and ready for the consumer; after the consumer
// takes it, Sequence == p + capacity frees the cell for the next lap.
//
// Producer (any thread). If _overflowActive reads false, claim a position by CAS on _tail, write
// the item, then publish it with a release write of the cell's Sequence. If the flag reads true,
// or the ring is full, take the lock, append to the overflow and set the flag. Never waits for
// the consumer, so it never blocks for longer than one short critical section.
//
// Consumer (one thread). 1) Hand out _drained first. 2) Take the cell at _head if it is published.
// 3) Otherwise, if the flag is set, take the lock and check _tail == _head: only when every
// claimed cell has been consumed does it move the whole overflow into _drained, clear the flag,
// and go back to 1. If a cell is claimed but not yet published it returns false; it never skips
// that cell and never reads the overflow ahead of it. The publishing producer wakes the loop.
//
// Why per-producer order holds. Take two items a then b from one thread.
// - a in ring, b in ring: positions are claimed in program order, the consumer walks them in order.
// - a in ring, b in overflow: the producer claimed a (CAS on _tail) before taking the lock for b,
//   so a consumer that sees b under the lock also sees _tail past a, and waits until a is consumed.
// - a in overflow, b in overflow: one FIFO queue, moved to _drained as a whole.
// - a in overflow, b in ring: the producer set the flag for a, so reading false for b means the
//   consumer cleared it later, which it only does in the same critical section that moved a into
//   _drained; _drained is handed out before the ring, so a comes first.
// A producer that read false just before another thread set the flag is harmless: none of its own
// earlier items can be in the overflow (by the last case), so its ring item may go before them.
//
// Why nothing is lost. A ring item stays in its cell until the consumer reads it (the cell is not
// reusable before its Sequence moves on). An overflow item is appended under the lock and only
// removed under the same lock by moving the whole queue to _drained; the flag is cleared in that
// same critical section, when the overflow is empty, so the consumer can never miss a non-empty
// overflow for longer than a stale read.

/// <summary>
/// A bounded multi-producer, single-consumer queue with an unbounded, order-preserving overflow.
/// </summary>
/// <remarks>
/// <see cref="Enqueue"/> may be called from any number of threads at once; it never blocks and
/// never drops an item. <see cref="TryDequeue"/> must only be called by one consumer thread.
/// Items enqueued by one thread are dequeued in the order that thread enqueued them, including
/// when some of them went through the overflow. No order is promised between different threads.
/// </remarks>
/// <typeparam name="T">The item type; small structs are copied into the ring without allocation.</typeparam>
internal sealed class MpscRing<T>
{
    private struct Cell
    {
        public long Sequence;
        public T Item;
    }

    private readonly Cell[] _cells;
    private readonly long _mask;
    private readonly object _overflowLock = new();

    // _ends.Tail is written only by producers, with CAS; _ends.Head only by the consumer (others read it only
    // for the IsEmpty hint). They sit on separate cache lines: when they shared one, every post and every dequeue
    // pulled the line away from the other core (PostBenchmarks, 1 producer: about 130 ns per item before).
    private PaddedRingEnds _ends;

    // True exactly while _overflow holds items; written only under _overflowLock.
    private bool _overflowActive;

    // Guarded by _overflowLock.
    private Queue<T> _overflow = new();

    // Consumer only. Swapped with _overflow under the lock when the consumer takes a batch.
    private Queue<T> _drained = new();

    private long _overflowCount;

    /// <summary>Creates a ring of at least <paramref name="capacity"/> cells.</summary>
    /// <param name="capacity">Rounded up to a power of two, and to at least 2.</param>
    public MpscRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 30);

        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
        _cells = new Cell[size];
        _mask = size - 1;
        for (int i = 0; i < size; i++)
        {
            _cells[i].Sequence = i;
        }
    }

    /// <summary>The number of cells in the ring (not counting the overflow).</summary>
    public int Capacity => _cells.Length;

    /// <summary>
    /// How many items have ever gone to the overflow because the ring was full or the overflow was
    /// already in use. Safe to read from any thread.
    /// </summary>
    public long OverflowCount => Interlocked.Read(ref _overflowCount);

    /// <summary>
    /// True when the ring, the overflow and the consumer's batch are all empty. Exact for the
    /// consumer as of the call; for any other thread only a hint. A cell claimed by a producer
    /// that has not yet published it counts as not empty.
    /// </summary>
    public bool IsEmpty =>
        _drained.Count == 0
        && Volatile.Read(ref _ends.Tail) == Volatile.Read(ref _ends.Head)
        && !Volatile.Read(ref _overflowActive);

    /// <summary>
    /// About how many items wait: claimed ring cells not yet taken, plus the overflow and the consumer's batch. Any
    /// thread, for metrics only: it reads fields other threads are changing, so it is a sample, never exact.
    /// </summary>
    public int ApproximateCount =>
        (int)Math.Clamp(Volatile.Read(ref _ends.Tail) - Volatile.Read(ref _ends.Head), 0, int.MaxValue)
        + Volatile.Read(ref _drained).Count + Volatile.Read(ref _overflow).Count;

    /// <summary>Adds an item. Any thread; never blocks on the consumer and never drops the item.</summary>
    public void Enqueue(in T item)
    {
        if (!Volatile.Read(ref _overflowActive) && TryEnqueueRing(in item))
        {
            return;
        }

        lock (_overflowLock)
        {
            _overflow.Enqueue(item);
            Volatile.Write(ref _overflowActive, true);
        }

        Interlocked.Increment(ref _overflowCount);
    }

    /// <summary>
    /// Takes the next item. Consumer thread only. Returns false when nothing is ready now; an
    /// <see cref="Enqueue"/> that has not returned yet may still deliver its item afterwards.
    /// </summary>
    public bool TryDequeue(out T item)
    {
        if (_drained.Count != 0)
        {
            item = _drained.Dequeue();
            return true;
        }

        if (TryDequeueRing(out item))
        {
            return true;
        }

        if (!Volatile.Read(ref _overflowActive))
        {
            return false;
        }

        if (TryTakeOverflow())
        {
            item = _drained.Dequeue();
            return true;
        }

        // A claimed ring cell holds up the overflow; its producer may have published it by now.
        return TryDequeueRing(out item);
    }

    private bool TryEnqueueRing(in T item)
    {
        Cell[] cells = _cells;
        long position = Volatile.Read(ref _ends.Tail);
        while (true)
        {
            ref Cell cell = ref cells[position & _mask];
            long sequence = Volatile.Read(ref cell.Sequence);
            long diff = sequence - position;
            if (diff == 0)
            {
                long seen = Interlocked.CompareExchange(ref _ends.Tail, position + 1, position);
                if (seen == position)
                {
                    cell.Item = item;
                    // Release: the item is visible before the consumer can see the cell as published.
                    Volatile.Write(ref cell.Sequence, position + 1);
                    return true;
                }

                position = seen;
            }
            else if (diff < 0)
            {
                // The cell still holds the item from the previous lap: the ring is full.
                return false;
            }
            else
            {
                // Another producer claimed this position since we read _tail.
                position = Volatile.Read(ref _ends.Tail);
            }
        }
    }

    private bool TryDequeueRing(out T item)
    {
        long head = _ends.Head;
        ref Cell cell = ref _cells[head & _mask];

        // Acquire: pairs with the producer's release write, so the item read below is complete.
        if (Volatile.Read(ref cell.Sequence) != head + 1)
        {
            // Either the ring is empty or the producer that claimed this cell has not published it.
            item = default!;
            return false;
        }

        item = cell.Item;
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            // Let the GC collect what the item refers to; the cell may sit unused for a long time.
            cell.Item = default!;
        }

        Volatile.Write(ref cell.Sequence, head + _cells.Length);
        Volatile.Write(ref _ends.Head, head + 1);
        return true;
    }

    // Moves the whole overflow into _drained, but only when no claimed ring cell is left
    // unconsumed; see the protocol at the top of the file.
    private bool TryTakeOverflow()
    {
        Debug.Assert(_drained.Count == 0);
        lock (_overflowLock)
        {
            // Reading _tail under the lock sees every claim made before any overflow append we can
            // see, which is what keeps a thread's ring item ahead of its later overflow item.
            if (Volatile.Read(ref _ends.Tail) != _ends.Head || _overflow.Count == 0)
            {
                return false;
            }

            (_overflow, _drained) = (_drained, _overflow);
            Debug.Assert(_overflowActive);
            Volatile.Write(ref _overflowActive, false);
        }

        return true;
    }

}
