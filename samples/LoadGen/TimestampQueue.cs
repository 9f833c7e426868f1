using System.Numerics;

namespace LoadGen;

/// <summary>
/// The send times of one connection's messages in flight, oldest first. Answers come back in request order, so
/// the oldest entry belongs to the next answer. A growable ring: no allocation once it has reached the depth.
/// </summary>
internal struct TimestampQueue
{
    private long[] _items;
    private int _head;
    private int _count;

    public TimestampQueue(int capacity) => _items = new long[Math.Max(4, (int)BitOperations.RoundUpToPowerOf2((uint)capacity))];

    public readonly int Count => _count;

    public void Enqueue(long timestamp)
    {
        if (_count == _items.Length)
        {
            Grow();
        }
        _items[(_head + _count) & (_items.Length - 1)] = timestamp;
        _count++;
    }

    public long Dequeue()
    {
        long value = _items[_head];
        _head = (_head + 1) & (_items.Length - 1);
        _count--;
        return value;
    }

    private void Grow()
    {
        var bigger = new long[_items.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            bigger[i] = _items[(_head + i) & (_items.Length - 1)];
        }
        _items = bigger;
        _head = 0;
    }
}
