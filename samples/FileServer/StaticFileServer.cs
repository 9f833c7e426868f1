using System.Net;
using FileServer.Http;
using Kevents;
using Kevents.Hybrid;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace FileServer;

/// <summary>
/// An HTTP/1.1 static file server on one event loop. Connections use Kevents.Net's low-level stream API; every
/// response is sent on the socket directly (headers with MSG_MORE, bodies by sendfile, or headers plus a small body
/// in one send), waiting for writability with <see cref="Connection.NotifyWritable"/> when the socket is full.
/// Loop thread only, except <see cref="ShutdownAsync"/>, which posts itself.
/// </summary>
internal sealed partial class StaticFileServer : IStreamHandler, IDisposable
{
    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly FileDescriptor _root;
    private SocketServer? _server;
    private readonly KeventHandler _onSweep;
    private readonly Registration _sweep;
    private readonly long _headerTimeoutNs;
    private readonly long _lingerTimeoutNs;
    private HttpConnection? _firstLive;
    private long _dateSecond = -1;
    private byte[] _dateHeader = [];

    private StaticFileServer(EventLoop loop, IPEndPoint? endPoint, FileServerOptions options, ILogger logger, FileDescriptor root, string rootPath)
    {
        _loop = loop;
        Options = options;
        _logger = logger;
        _root = root;
        RootPath = rootPath;
        _headerTimeoutNs = options.HeaderTimeout.Ticks * 100;
        _lingerTimeoutNs = options.LingerTimeout.Ticks * 100;
        Scratch = new byte[64 * 1024];
        if (endPoint is not null)
        {
            _server = loop.ListenTcp(endPoint, this, ServerOptionsFor(options, loops: 1));
            LocalEndPoint = (IPEndPoint)_server.LocalEndPoint;
        }

        // One periodic sweep checks every connection's absolute deadlines (header timeout, linger, shutdown), so a
        // request costs one store to arm its deadline instead of a timer registration. Never early: a deadline is
        // acted on only once the loop's clock has passed it; at most one sweep interval late.
        long intervalMs = Math.Clamp((long)Options.HeaderTimeout.TotalMilliseconds / 8, 10, 250);
        // The loop hands out the ident, so the timer cannot collide with anyone else's on the same loop.
        _onSweep = Sweep;
        _sweep = loop.Register(Kevent.PeriodicTimer(loop.AllocateIdent(), TimeSpan.FromMilliseconds(intervalMs)), _onSweep);
        if (_server is not null)
        {
            Log.Listening(_logger, rootPath, LocalEndPoint.ToString());
        }
    }

    /// <summary>
    /// The listener settings for <paramref name="loops"/> loops sharing the process. Every descriptor counts towards
    /// RLIMIT_NOFILE, and a connection sending a file holds two: its socket and the file. Kevents.Net keeps a reserve
    /// of free descriptors for the runtime and sheds connections that would eat into it; half of what is left is the
    /// most connections that can all be downloading at once, shared out over the loops (the limit is per loop).
    /// </summary>
    public static ServerOptions ServerOptionsFor(FileServerOptions options, int loops)
    {
        long fdLimit = FileDescriptor.ProcessLimit;
        int reserve = (int)Math.Clamp(fdLimit / 20, 16, 256);
        return new ServerOptions
        {
            MaxConnections = (int)Math.Clamp((fdLimit - reserve) / 2 / loops, 1, Math.Max(1, options.MaxConnections / loops)),
            DescriptorReserve = reserve,
            Connection = new ConnectionOptions { IdleTimeout = options.IdleTimeout },
        };
    }

    public FileServerOptions Options { get; }

    /// <summary>The served directory, as given.</summary>
    public string RootPath { get; }

    /// <summary>Where the server listens (for a group's per-loop handler: 0.0.0.0:0 until <see cref="Attach"/>).</summary>
    public IPEndPoint LocalEndPoint { get; private set; } = new(IPAddress.Any, 0);

    public FileServerStats Stats { get; } = new();

    /// <summary>Live connections.</summary>
    public int ConnectionCount { get; private set; }

    /// <summary>Connections accepted since start.</summary>
    public long TotalAccepted => _server?.TotalAccepted ?? 0;

    internal ILogger Logger => _logger;

    internal EventLoop Loop => _loop;

    /// <summary>The loop's shared buffer for a response head plus a small body; used and released within one call.</summary>
    internal byte[] Scratch { get; }

    internal long HeaderTimeoutNs => _headerTimeoutNs;

    internal long LingerTimeoutNs => _lingerTimeoutNs;

    internal bool ShuttingDown => _drained is not null;

    /// <summary>
    /// Opens the root directory and starts listening. Loop thread (or before the loop runs).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The root does not exist or is not a directory.</exception>
    /// <exception cref="PlatformNotSupportedException">The kernel has no openat2 (Linux 5.6), which the root fence needs.</exception>
    public static StaticFileServer Start(EventLoop loop, IPEndPoint endPoint, FileServerOptions options, ILogger logger) =>
        Create(loop, endPoint, options, logger);

    /// <summary>
    /// The handler of one loop of a group (--loops above 1): serves the connections a group listener lands on
    /// <paramref name="loop"/>, with its own root descriptor, scratch buffer, timers and counters. Call
    /// <see cref="Attach"/> with the loop's server once the listener exists.
    /// </summary>
    public static StaticFileServer ForLoop(EventLoop loop, FileServerOptions options, ILogger logger) =>
        Create(loop, null, options, logger);

    /// <summary>Gives a group's per-loop handler the server its connections come from (for shutdown and counts).</summary>
    public void Attach(SocketServer server, IPEndPoint localEndPoint)
    {
        _server = server;
        LocalEndPoint = localEndPoint;
    }

    private static StaticFileServer Create(EventLoop loop, IPEndPoint? endPoint, FileServerOptions options, ILogger logger)
    {
        string rootPath = Path.GetFullPath(options.Root);
        int rc = FileDescriptor.Open(rootPath, FileOpenFlags.Directory, out FileDescriptor? root);
        if (rc < 0)
        {
            throw new DirectoryNotFoundException($"Cannot serve '{rootPath}': it is not a readable directory (errno {-rc}).");
        }
        rc = root!.OpenBeneath(".", FileOpenFlags.Directory, cachedOnly: false, out FileDescriptor? probe);
        probe?.Dispose();
        if (rc < 0)
        {
            root.Dispose();
            throw new PlatformNotSupportedException(
                $"openat2 with RESOLVE_BENEATH failed (errno {-rc}); the file server needs Linux 5.6 or later to keep requests inside the root.");
        }
        try
        {
            return new StaticFileServer(loop, endPoint, options, logger, root, rootPath);
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    /// <summary>"Date: ..." for the current second, refreshed at most once a second.</summary>
    internal ReadOnlySpan<byte> DateHeader()
    {
        DateTime now = DateTime.UtcNow;
        long second = now.Ticks / TimeSpan.TicksPerSecond;
        if (second != _dateSecond)
        {
            _dateSecond = second;
            _dateHeader = System.Text.Encoding.ASCII.GetBytes($"Date: {now:R}\r\n");
        }
        return _dateHeader;
    }

    void IStreamHandler.OnConnected(StreamConnection connection)
    {
        var http = new HttpConnection(this, connection);
        connection.State = http;
        http.NextLive = _firstLive;
        if (_firstLive is not null)
        {
            _firstLive.PreviousLive = http;
        }
        _firstLive = http;
        ConnectionCount++;
        if (ShuttingDown)
        {
            connection.Close();
            return;
        }
        http.Start();
    }

    void IStreamHandler.OnData(StreamConnection connection, ReadOnlySpan<byte> data) => ((HttpConnection)connection.State!).OnData(data);

    void IStreamHandler.OnEndOfStream(StreamConnection connection) => ((HttpConnection)connection.State!).OnEndOfStream();

    void IStreamHandler.OnClosed(StreamConnection connection, Exception? error)
    {
        var http = (HttpConnection)connection.State!;
        http.OnClosed();
        if (http.PreviousLive is null)
        {
            _firstLive = http.NextLive;
        }
        else
        {
            http.PreviousLive.NextLive = http.NextLive;
        }
        if (http.NextLive is not null)
        {
            http.NextLive.PreviousLive = http.PreviousLive;
        }
        http.PreviousLive = http.NextLive = null;
        ConnectionCount--;
        if (ConnectionCount == 0)
        {
            _drained?.TrySetResult();
        }
    }

    /// <summary>Test hook: every open goes to a cache-miss thread, as if the dentry cache never answered.</summary>
    internal bool ForceCacheMiss { get; set; }

    /// <summary>Test hook: runs on the cache-miss thread before the open.</summary>
    internal Action? BeforeBlockingOpen { get; set; }

    /// <summary>Opens <paramref name="relative"/> under the root in a threadlet: inline when the dentry cache answers.</summary>
    internal ValueTask<OpenedFile> OpenAsync(string relative)
    {
        // The root goes along as its SafeHandle, never as a bare number: a cache-miss thread may still be opening
        // when the server is disposed, and by then the number may name another directory (see OpenBeneathRoot).
        FileDescriptor root = _root;
        bool forceMiss = ForceCacheMiss;
        Action? beforeBlocking = BeforeBlockingOpen;
        return _loop.Threadlet(t => OpenInThreadletAsync(t, root, relative, forceMiss, beforeBlocking));
    }

    private static async ValueTask<OpenedFile> OpenInThreadletAsync(Threadlet t, FileDescriptor root, string relative, bool forceMiss, Action? beforeBlocking)
    {
        OpenedFile opened = await OpenOneAsync(t, root, relative.Length == 0 ? "." : relative, forceMiss, beforeBlocking);
        if (opened.Errno == 0 && opened.Status.IsDirectory)
        {
            // A directory is served through its index.html; without one it is refused (no listings).
            opened.File!.Dispose();
            string index = relative.Length == 0 ? "index.html" : relative + "/index.html";
            opened = await OpenOneAsync(t, root, index, forceMiss, beforeBlocking);
            if (opened.Errno == -Errno.ENOENT)
            {
                opened = new OpenedFile(-Errno.EACCES, null, default, index);
            }
        }
        return opened;
    }

    private static async ValueTask<OpenedFile> OpenOneAsync(Threadlet t, FileDescriptor root, string path, bool forceMiss, Action? beforeBlocking)
    {
        int rc;
        FileDescriptor? file = null;
        if (t.IsOnLoop)
        {
            rc = forceMiss ? -Errno.EAGAIN : OpenBeneathRoot(root, path, cachedOnly: true, out file);
            if (rc == -Errno.EAGAIN)
            {
                // The lookup would read the disk: finish it on a cache-miss thread, the loop keeps serving.
                (rc, file) = await t.Blocking(() =>
                {
                    beforeBlocking?.Invoke();
                    return OpenBlocking(root, path);
                });
            }
        }
        else
        {
            (rc, file) = OpenBlocking(root, path);
        }
        if (rc < 0)
        {
            return new OpenedFile(rc, null, default, path);
        }
        // The inode is in memory once the file is open: this stat never waits for a disk.
        rc = file!.Stat(out FileStatus status);
        if (rc < 0)
        {
            file.Dispose();
            return new OpenedFile(rc, null, default, path);
        }
        return new OpenedFile(0, file, status, path);
    }

    private static (int, FileDescriptor?) OpenBlocking(FileDescriptor root, string path)
    {
        int rc = OpenBeneathRoot(root, path, cachedOnly: false, out FileDescriptor? file);
        return (rc, file);
    }

    /// <summary>
    /// openat2 under the root: the kernel keeps the path inside it. OpenBeneath holds a reference on the root's handle
    /// for the call, so disposing the server cannot free the root's number while an open uses it, and an open that
    /// starts after the dispose gets -EBADF instead of resolving against whatever directory got the number since.
    /// </summary>
    private static int OpenBeneathRoot(FileDescriptor root, string path, bool cachedOnly, out FileDescriptor? file) =>
        root.OpenBeneath(path, FileOpenFlags.ReadOnly, cachedOnly, out file);

    private void Sweep(in Kevent ev)
    {
        long now = _loop.NowNanoseconds;
        bool deadlinePassed = _shutdownDeadlineNs != 0 && now >= _shutdownDeadlineNs;
        if (deadlinePassed && ConnectionCount > 0)
        {
            Log.ShutdownDeadline(_logger, ConnectionCount);
        }
        for (HttpConnection? c = _firstLive; c is not null;)
        {
            HttpConnection? next = c.NextLive;
            if (deadlinePassed)
            {
                c.Abort("the shutdown deadline passed");
            }
            else
            {
                c.CheckDeadlines(now);
            }
            c = next;
        }
        if (deadlinePassed)
        {
            _shutdownDeadlineNs = 0;
        }
    }

    public void Dispose()
    {
        _sweep.Delete();
        _server?.Dispose();
        _root.Dispose();
    }
}

/// <summary>The result of opening a request's file: a descriptor and its status, or -errno.</summary>
internal readonly record struct OpenedFile(int Errno, FileDescriptor? File, FileStatus Status, string Path);
