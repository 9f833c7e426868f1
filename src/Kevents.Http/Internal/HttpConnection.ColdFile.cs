using Kevents.Hybrid;
using Kevents.Net;

namespace Kevents.Http;

// Cold file bodies. sendfile reads the file on the calling thread and cannot be told not to wait for the disk, so
// before each chunk the loop asks the kernel whether the chunk is in the page cache (mincore: it never waits, and it
// counts a page only once the disk has filled it). A cached chunk is sent at once. A cold one is handed to a
// threadlet, which reads a window of the file into the cache on a cache-miss thread (a sendfile to /dev/null: the
// kernel reads the pages and drops the copy, and the pages stay cached) while the loop serves the other connections;
// its completion comes back to the loop, which then sends the window with sendfile as usual. While the loop sends
// one window the next is read, so the disk and the socket overlap. The socket is written by the loop thread only,
// so the single-writer rule and the non-blocking sends stay as they are; the thread touches nothing but the file,
// through a counted reference on its handle for each read.
internal sealed partial class HttpConnection
{
    /// <summary>
    /// Bytes read into the cache per trip to a thread. Larger than a turn's send so one trip feeds several turns;
    /// small enough that the first bytes of a cold file leave after one disk read of a few milliseconds.
    /// </summary>
    internal const int ColdWindow = 2 * 1024 * 1024;

    // Bytes per sendfile to /dev/null: cancellation (the loop shutting down) is looked at between slices.
    private const int ReadSlice = 512 * 1024;

    private bool _reading;         // a threadlet is reading the file into the cache
    private bool _waitingForRead;  // ... and the next send needs it: nothing is sent until it is back
    private long _cachedUntil;     // the file is known to be cached (or was just read in) up to this offset

    /// <summary>
    /// Loop thread, before sending up to <paramref name="chunk"/> bytes of the file from _fileOffset: how many may
    /// go now, all known to be in the page cache; 0 when a threadlet is reading them in (its completion resumes the
    /// sending). Inline mode, a full cache-miss queue or a failed probe send the whole chunk as sendfile would.
    /// </summary>
    private int CachedChunk(int chunk)
    {
        if (_server.Options.ColdFiles != ColdFileMode.Threadlet)
        {
            return chunk;
        }
        long end = _fileOffset + chunk;
        if (end > _cachedUntil && !_reading)
        {
            long from = Math.Max(_fileOffset, _cachedUntil);
            int cached = _file!.CachedPages(from, end - from);
            if (cached != 0)
            {
                // Cached, or the probe failed (a closed file): sendfile gives the answer either way.
                _cachedUntil = end;
            }
            else if (!StartRead(from))
            {
                return chunk; // no thread to be had: send inline, as a server without this path would
            }
        }
        if (_cachedUntil <= _fileOffset)
        {
            _waitingForRead = true;
            return 0;
        }
        ReadAhead();
        return (int)Math.Min(chunk, _cachedUntil - _fileOffset);
    }

    /// <summary>While the cached part goes out, read the window after it if it is cold and nothing is being read.</summary>
    private void ReadAhead()
    {
        long fileEnd = _fileOffset + _fileRemaining;
        if (_reading || _cachedUntil >= fileEnd || _cachedUntil - _fileOffset > ColdWindow)
        {
            return;
        }
        long length = Math.Min(fileEnd - _cachedUntil, ColdWindow);
        if (_file!.CachedPages(_cachedUntil, length) != 0)
        {
            _cachedUntil += length; // the kernel's own readahead got there first
            return;
        }
        StartRead(_cachedUntil);
    }

    /// <summary>Starts a threadlet reading the window from <paramref name="from"/> into the cache; false if none can start.</summary>
    private bool StartRead(long from)
    {
        long length = Math.Min(_fileOffset + _fileRemaining - from, ColdWindow);
        FileDescriptor file = _file!;
        Action? before = _server.BeforeColdRead;
        ValueTask<long> read;
        try
        {
            read = _connection.Loop.Threadlet(t => ReadIntoCacheAsync(t, file, from, length, before));
        }
        catch (Exception ex) when (ex is ThreadletQueueFullException or ObjectDisposedException)
        {
            return false; // the cache-miss queue is full, or the loop is shutting down
        }
        _server.ColdFileReads++;
        _reading = true;
        _ = ResumeAfterReadAsync(read, file, from + length);
        return true;
    }

    private static async ValueTask<long> ReadIntoCacheAsync(Threadlet t, FileDescriptor file, long offset, long length, Action? before) =>
        // Long: bulk reads of cold bodies must not fill the Short queue that cache-missing opens of other requests use.
        await t.Blocking(token => ReadIntoCache(file, offset, length, before, token), WorkClass.Long);

    /// <summary>
    /// Cache-miss thread: reads the range into the page cache, waiting for the disk. Bytes read, or -errno. The read is
    /// a sendfile to /dev/null: the kernel reads the pages and hands them to a sink that drops them, so nothing is
    /// copied to this process. Each slice holds a counted reference on the file, which the connection may dispose
    /// meanwhile (-EBADF then).
    /// </summary>
    private static long ReadIntoCache(FileDescriptor file, long offset, long length, Action? before, CancellationToken token)
    {
        before?.Invoke();
        int rc = FileDescriptor.Open("/dev/null", FileOpenFlags.WriteOnly, out FileDescriptor? sink);
        if (rc < 0)
        {
            return rc;
        }
        using (sink)
        {
            long position = offset;
            long end = offset + length;
            while (position < end)
            {
                if (token.IsCancellationRequested)
                {
                    return -Errno.ECANCELED;
                }
                long sent = Connection.SendFileGuarded(
                    sink!.Fd, file, ref position, (int)Math.Min(end - position, ReadSlice));
                if (sent <= 0)
                {
                    return sent == 0 ? position - offset : sent; // 0: the file ended early; sendfile will say so
                }
            }
            return length;
        }
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
        _reading = false;
        if (_state == State.Closed)
        {
            _waitingForRead = false;
            return; // the connection closed (and disposed the file) while the thread read
        }
        if (!ReferenceEquals(_file, file))
        {
            // That body is gone; a later one may have waited for this read to end before asking for its own.
            if (_waitingForRead)
            {
                _waitingForRead = false;
                SendAndContinue();
            }
            return;
        }
        if (rc < 0)
        {
            // Counted as read all the same: sendfile then meets the same error and reports it, instead of this
            // connection asking a thread for the same failing range forever.
            HttpLog.ColdFileReadFailed(_server.Logger, Id, (int)-rc);
        }
        _cachedUntil = Math.Max(_cachedUntil, readUntil);
        if (_waitingForRead)
        {
            _waitingForRead = false;
            SendAndContinue();
        }
    }
}
