namespace RespServer;

/// <summary>One key and its string value. The value's bytes are Value[..Length] (APPEND grows it with room to spare).</summary>
internal sealed class Entry
{
    public const long NoExpiry = long.MaxValue;

    public Entry(byte[] key) => Key = key;

    public byte[] Key { get; }

    public byte[] Value = [];

    public int Length;

    /// <summary>When the key expires, on the key space's millisecond clock; <see cref="NoExpiry"/> for never.</summary>
    public long ExpiresAtMs = NoExpiry;

    /// <summary>This entry's slot in the key space's slot table (the SCAN cursor walks slots).</summary>
    public int Slot = -1;

    /// <summary>Its place in the list of keys with a time to live (sampled by active expiry); -1 when it has none.</summary>
    public int VolatileIndex = -1;

    public ReadOnlySpan<byte> Span => Value.AsSpan(0, Length);
}

/// <summary>
/// Compares keys by their bytes, and looks them up by a span of bytes without making an array (the
/// <see cref="IAlternateEqualityComparer{TAlternate, T}"/> half), so GET allocates nothing. Hash codes come from
/// <see cref="HashCode"/>, which is seeded randomly per process: clients cannot choose keys that collide.
/// </summary>
internal sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static ByteKeyComparer Instance { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] key) => Hash(key);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<byte> key)
    {
        var hash = new HashCode();
        hash.AddBytes(key);
        return hash.ToHashCode();
    }
}

/// <summary>
/// The keys of one loop: a dictionary from key bytes to <see cref="Entry"/>, a slot table that gives SCAN a cursor
/// stable across inserts and deletes, and the list of keys with a time to live that active expiry samples (as Redis
/// samples its expires dictionary). Expired keys are also removed when they are touched (lazy expiry). Loop thread only.
/// </summary>
internal sealed class KeySpace
{
    private readonly Dictionary<byte[], Entry> _map = new(ByteKeyComparer.Instance);
    private readonly Dictionary<byte[], Entry>.AlternateLookup<ReadOnlySpan<byte>> _lookup;
    private readonly Func<long> _nowMs;
    private readonly List<Entry> _volatile = [];
    private readonly Random _random;
    private Entry?[] _slots = new Entry?[16];
    private int _slotsUsed;
    private int[] _freeSlots = new int[16];
    private int _freeCount;

    /// <param name="nowMs">The clock expiry runs on, in milliseconds (any origin; TTLs are differences).</param>
    /// <param name="random">Picks the keys active expiry samples; seeded in tests.</param>
    public KeySpace(Func<long> nowMs, Random? random = null)
    {
        _nowMs = nowMs;
        _random = random ?? new Random();
        _lookup = _map.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    public int Count => _map.Count;

    /// <summary>Keys with a time to live.</summary>
    public int VolatileCount => _volatile.Count;

    public long Hits { get; private set; }

    public long Misses { get; private set; }

    public long ExpiredKeys { get; private set; }

    /// <summary>Bytes held in keys and values (capacity, not length), for INFO memory.</summary>
    public long DataBytes { get; private set; }

    public long NowMs => _nowMs();

    /// <summary>The live entry for <paramref name="key"/>, or null (an expired one is removed first).</summary>
    public Entry? Find(ReadOnlySpan<byte> key)
    {
        if (!_lookup.TryGetValue(key, out Entry? entry))
        {
            return null;
        }
        if (entry.ExpiresAtMs != Entry.NoExpiry && entry.ExpiresAtMs <= _nowMs())
        {
            Expire(entry);
            return null;
        }
        return entry;
    }

    /// <summary><see cref="Find"/> for a read command: counts keyspace hits and misses as Redis does.</summary>
    public Entry? Read(ReadOnlySpan<byte> key)
    {
        Entry? entry = Find(key);
        if (entry is null)
        {
            Misses++;
        }
        else
        {
            Hits++;
        }
        return entry;
    }

    /// <summary>The entry for <paramref name="key"/>, created empty (no expiry) when missing.</summary>
    public Entry GetOrAdd(ReadOnlySpan<byte> key, out bool created)
    {
        Entry? entry = Find(key);
        if (entry is not null)
        {
            created = false;
            return entry;
        }
        entry = new Entry(key.ToArray());
        _lookup[key] = entry;
        entry.Slot = TakeSlot(entry);
        DataBytes += entry.Key.Length;
        created = true;
        return entry;
    }

    /// <summary>Stores <paramref name="value"/> as the whole value, reusing the entry's array when it fits exactly.</summary>
    public void SetValue(Entry entry, ReadOnlySpan<byte> value)
    {
        if (entry.Value.Length != value.Length)
        {
            DataBytes += value.Length - entry.Value.Length;
            entry.Value = value.ToArray();
        }
        else
        {
            value.CopyTo(entry.Value);
        }
        entry.Length = value.Length;
    }

    /// <summary>Appends to the value, growing its array with room to spare so repeated appends stay linear.</summary>
    public void Append(Entry entry, ReadOnlySpan<byte> tail)
    {
        int length = entry.Length + tail.Length;
        if (length > entry.Value.Length)
        {
            byte[] bigger = new byte[Math.Max(length, (int)Math.Min(Array.MaxLength, entry.Value.Length * 2L))];
            entry.Span.CopyTo(bigger);
            DataBytes += bigger.Length - entry.Value.Length;
            entry.Value = bigger;
        }
        tail.CopyTo(entry.Value.AsSpan(entry.Length));
        entry.Length = length;
    }

    public bool Remove(ReadOnlySpan<byte> key)
    {
        Entry? entry = Find(key);
        if (entry is null)
        {
            return false;
        }
        Delete(entry);
        return true;
    }

    public void SetExpiry(Entry entry, long expiresAtMs)
    {
        entry.ExpiresAtMs = expiresAtMs;
        if (expiresAtMs == Entry.NoExpiry)
        {
            RemoveVolatile(entry);
        }
        else if (entry.VolatileIndex < 0)
        {
            entry.VolatileIndex = _volatile.Count;
            _volatile.Add(entry);
        }
    }

    public void Clear()
    {
        _map.Clear();
        _volatile.Clear();
        _slots = new Entry?[16];
        _slotsUsed = 0;
        _freeSlots = new int[16];
        _freeCount = 0;
        DataBytes = 0;
    }

    /// <summary>Every live key, in slot order (KEYS).</summary>
    public IEnumerable<Entry> Entries()
    {
        long now = _nowMs();
        for (int i = 0; i < _slotsUsed; i++)
        {
            if (_slots[i] is { } entry && entry.ExpiresAtMs > now)
            {
                yield return entry;
            }
        }
    }

    /// <summary>
    /// One SCAN step: live entries from slot <paramref name="cursor"/> on, until <paramref name="count"/> were seen or
    /// ten times that many slots were visited; returns the next cursor, 0 at the end. A key present for the whole scan
    /// keeps its slot, so it is returned exactly once; keys added meanwhile may or may not be (as with Redis).
    /// </summary>
    public long Scan(long cursor, int count, List<Entry> found)
    {
        long now = _nowMs();
        long slot = cursor;
        int seen = 0;
        long visitLimit = Math.Max(count, 1) * 10L;
        for (long visited = 0; slot < _slotsUsed && seen < count && visited < visitLimit; slot++, visited++)
        {
            if (_slots[slot] is { } entry)
            {
                if (entry.ExpiresAtMs <= now)
                {
                    Expire(entry);
                    continue;
                }
                found.Add(entry);
                seen++;
            }
        }
        return slot >= _slotsUsed ? 0 : slot;
    }

    /// <summary>
    /// Active expiry, as Redis runs it: sample up to 20 keys that have a time to live, remove the expired ones, and
    /// go again while more than a quarter of a sample had expired, within <paramref name="budgetSamples"/> keys in all.
    /// Returns how many keys it removed.
    /// </summary>
    public int ExpireSample(int budgetSamples = 2000)
    {
        int removed = 0;
        int sampled = 0;
        long now = _nowMs();
        while (_volatile.Count > 0 && sampled < budgetSamples)
        {
            int batch = Math.Min(20, _volatile.Count);
            int expired = 0;
            for (int i = 0; i < batch; i++)
            {
                Entry entry = _volatile[_random.Next(_volatile.Count)];
                if (entry.ExpiresAtMs <= now)
                {
                    Expire(entry);
                    expired++;
                }
            }
            sampled += batch;
            removed += expired;
            if (expired * 4 <= batch)
            {
                break;
            }
        }
        return removed;
    }

    private void Expire(Entry entry)
    {
        ExpiredKeys++;
        Delete(entry);
    }

    private void Delete(Entry entry)
    {
        _map.Remove(entry.Key);
        RemoveVolatile(entry);
        _slots[entry.Slot] = null;
        if (_freeCount == _freeSlots.Length)
        {
            Array.Resize(ref _freeSlots, _freeSlots.Length * 2);
        }
        _freeSlots[_freeCount++] = entry.Slot;
        entry.Slot = -1;
        DataBytes -= entry.Key.Length + entry.Value.Length;
    }

    private void RemoveVolatile(Entry entry)
    {
        int index = entry.VolatileIndex;
        if (index < 0)
        {
            return;
        }
        Entry last = _volatile[^1];
        _volatile[index] = last;
        last.VolatileIndex = index;
        _volatile.RemoveAt(_volatile.Count - 1);
        entry.VolatileIndex = -1;
    }

    private int TakeSlot(Entry entry)
    {
        int slot;
        if (_freeCount > 0)
        {
            slot = _freeSlots[--_freeCount];
        }
        else
        {
            if (_slotsUsed == _slots.Length)
            {
                Array.Resize(ref _slots, _slots.Length * 2);
            }
            slot = _slotsUsed++;
        }
        _slots[slot] = entry;
        return slot;
    }
}
