namespace Kevents.Hybrid;

/// <summary>
/// Which group of cache-miss threads runs a piece of blocking work. The two groups have their own threads and
/// queues, so a flood of long work cannot starve short file I/O (libuv's most reported thread-pool problem).
/// </summary>
public enum WorkClass
{
    /// <summary>Short blocking I/O: an open, read, write or stat that missed the cache. The default.</summary>
    Short = 0,
    /// <summary>Long or unbounded work: DNS, compression, a third-party synchronous API.</summary>
    Long = 1,
}
