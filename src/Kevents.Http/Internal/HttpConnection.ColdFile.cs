using Kevents.Hybrid;

namespace Kevents.Http;

// Cold file bodies. sendfile reads the file on the calling thread and cannot be told not to wait for the disk, so
// before each chunk the loop asks the kernel whether the chunk is in the page cache (cachestat: it never waits). A
// cached chunk is sent at once. A cold one is handed to a threadlet, which reads a window of the file into the cache
// on a cache-miss thread (the bytes go to a scratch buffer and are dropped: the point is the page cache) while the
// loop serves the other connections; its completion comes back to the loop, which then sends the window with
// sendfile as usual. The socket is written by the loop thread only, so the single-writer rule and the non-blocking
// sends stay as they are; the thread touches nothing but the file, through a counted reference on its handle.
internal sealed partial class HttpConnection
{
    /// <summary>
    /// Bytes read into the cache per trip to a thread. Larger than a turn's send so one trip feeds several turns;
    /// small enough that the first bytes of a cold file leave after one disk read of a few milliseconds.
    /// </summary>
    internal const int ColdWindow = 2 * 1024 * 1024;

    private const int ScratchSize = 128 * 1024;

    [ThreadStatic]
    private static byte[]? t_scratch;

    private bool _warming;     // a threadlet is reading the file into the cache: nothing is sent until it is back
    private long _cachedUntil; // the file is known to be cached (or was just read) up to this offset

    /// <summary>
    /// Loop thread, before sending <paramref name="chunk"/> bytes of the file from _fileOffset: true when they were
    /// not all cached and a threadlet now reads them in (the send resumes on its completion); false to send now.
    /// </summary>
    private bool WarmBeforeSend(int chunk)
    {
        if (_server.Options.ColdFiles != ColdFileMode.Threadlet)
        {
            return false;
        }
        long end = _fileOffset + chunk;
        if (end <= _cachedUntil)
        {
            return false;
        }
        long from = Math.Max(_fileOffset, _cachedUntil);
        int cached = _file!.CachedPages(from, end - from);
        if (cached != 0)
        {
            // Cached, or the probe failed (a closed file): sendfile gives the answer either way.
            _cachedUntil = cached > 0 ? end : _cachedUntil;
            return false;
        }
        long window = Math.Min(_fileRemaining, Math.Max(chunk, ColdWindow));
        FileDescriptor file = _file;
        long offset = _fileOffset;
        Action? before = _server.BeforeColdRead;
        ValueTask<long> read;
        try
        {
            read = _connection.Loop.Threadlet(t => ReadIntoCacheAsync(t, file, offset, window, before));
        }
        catch (Exception ex) when (ex is ThreadletQueueFullException or ObjectDisposedException)
        {
            // The cache-miss queue is full, or the loop is shutting down: send inline as a server without this
            // path would, rather than refuse a response whose head is already out.
            return false;
        }
        _server.ColdFileReads++;
        _warming = true;
        _ = ResumeAfterReadAsync(read, file, offset + window);
        return true;
    }

    private static async ValueTask<long> ReadIntoCacheAsync(Threadlet t, FileDescriptor file, long offset, long length, Action? before) =>
        // Long: bulk reads of cold bodies must not fill the Short queue that cache-missing opens of other requests use.
        await t.Blocking(token => ReadIntoCache(file, offset, length, before, token), WorkClass.Long);

    /// <summary>Cache-miss thread: reads the range (dropping the bytes) so its pages are cached. Bytes read, or -errno.</summary>
    private static long ReadIntoCache(FileDescriptor file, long offset, long length, Action? before, CancellationToken token)
    {
        before?.Invoke();
        byte[] scratch = t_scratch ??= GC.AllocateUninitializedArray<byte>(ScratchSize);
        long done = 0;
        while (done < length)
        {
            if (token.IsCancellationRequested)
            {
                return -Errno.ECANCELED;
            }
            // A counted reference for each read: the connection may close and dispose the file meanwhile (-EBADF).
            long rc = file.Read(scratch.AsSpan(0, (int)Math.Min(scratch.Length, length - done)), offset + done);
            if (rc <= 0)
            {
                return rc == 0 ? done : rc;
            }
            done += rc;
        }
        return done;
    }

    /// <summary>Loop thread, when the threadlet is back: send what is now cached, unless the connection moved on.</summary>
    private async Task ResumeAfterReadAsync(ValueTask<long> read, FileDescriptor file, long readUntil)
    {
        long rc;
        try
        {
            rc = await read;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            rc = -Errno.ECANCELED;
        }
        if (!_connection.Loop.IsOnLoopThread)
        {
            return; // the runtime was shut down with the loop, which closes this connection itself
        }
        _warming = false;
        if (_state == State.Closed || !ReferenceEquals(_file, file))
        {
            return; // the connection closed (and disposed the file) while the thread read
        }
        if (rc < 0)
        {
            HttpLog.ColdFileReadFailed(_server.Logger, Id, (int)-rc);
        }
        else
        {
            _cachedUntil = readUntil;
        }
        SendAndContinue();
    }
}
