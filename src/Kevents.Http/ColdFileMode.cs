namespace Kevents.Http;

/// <summary>How a file body (<see cref="HttpResponse.SendFile"/>) whose pages are not in the page cache is sent.</summary>
/// <remarks>
/// sendfile reads the file on the calling thread, and has no flag that says "fail rather than wait for the disk", so
/// sending a cold file from the loop stalls every connection of the loop for the disk's time.
/// </remarks>
public enum ColdFileMode
{
    /// <summary>
    /// Before each sendfile the server asks the kernel whether the range is in the page cache and read (mincore,
    /// which never waits); if it is not, a threadlet reads it into the cache on a cache-miss thread while the loop serves
    /// the other connections, and the loop then sends it from the cache. The default: the loop only ever sends
    /// cached data, and a cached body costs one extra non-blocking syscall per chunk.
    /// </summary>
    Threadlet,

    /// <summary>sendfile on the loop whatever is cached, waiting for the disk when it must (for comparisons).</summary>
    Inline,
}
