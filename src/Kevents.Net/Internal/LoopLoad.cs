namespace Kevents.Net.Internal;

/// <summary>
/// Connections per loop of a listener group: live ones plus those on their way. The acceptor adds one when it hands a
/// connection over (so a burst of accepts within one turn spreads instead of piling onto the loop that looked
/// emptiest at its start); the loop serving it takes it away when the connection ends or is refused.
/// </summary>
internal sealed class LoopLoad(int loops)
{
    // One cache line per loop: the counters are written from different threads.
    private const int Stride = 16;
    private readonly int[] _counts = new int[loops * Stride];
    private int _start;

    public int this[int loop] => Volatile.Read(ref _counts[loop * Stride]);

    /// <summary>The loop with the fewest connections, counting it as one more. Ties rotate, so equal loops share.</summary>
    public int AcquireLeastLoaded()
    {
        int n = _counts.Length / Stride;
        int start = _start;
        _start = start + 1 == n ? 0 : start + 1;
        int best = start;
        int bestCount = this[start];
        for (int k = 1; k < n; k++)
        {
            int i = start + k < n ? start + k : start + k - n;
            int c = this[i];
            if (c < bestCount)
            {
                best = i;
                bestCount = c;
            }
        }
        Interlocked.Increment(ref _counts[best * Stride]);
        return best;
    }

    public void Release(int loop) => Interlocked.Decrement(ref _counts[loop * Stride]);
}
