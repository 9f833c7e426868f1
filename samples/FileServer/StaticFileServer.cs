using System.Net;
using FileServer.Http;
using Kevents;
using Kevents.Http;
using Kevents.Hybrid;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace FileServer;

/// <summary>
/// An HTTP/1.1 static file server on one event loop: a handler on Kevents.Http, which parses, keeps connections
/// alive, enforces the limits and sends the responses (bodies by sendfile, small cached ones read in with the head).
/// This class resolves the path, opens the file beneath the root (a threadlet: inline when the dentry cache answers,
/// on a cache-miss thread otherwise) and picks the status. Loop thread only, except <see cref="ShutdownAsync"/>.
/// </summary>
internal sealed partial class StaticFileServer : IDisposable
{
    private static readonly byte[] s_errorType = "text/plain; charset=utf-8"u8.ToArray();

    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly FileDescriptor _root;
    private HttpServer? _server;

    private StaticFileServer(EventLoop loop, FileServerOptions options, ILogger logger, FileDescriptor root, string rootPath)
    {
        _loop = loop;
        Options = options;
        _logger = logger;
        _root = root;
        RootPath = rootPath;
        Stats = new FileServerStats(this);
    }

    /// <summary>The Kevents.Http settings for these options; <paramref name="loops"/> divides the connection limit.</summary>
    public static HttpServerOptions HttpOptionsFor(FileServerOptions options, int loops)
    {
        long fdLimit = FileDescriptor.ProcessLimit;
        int reserve = (int)Math.Clamp(fdLimit / 20, 16, 256);
        return new HttpServerOptions
        {
            MaxRequestLine = options.MaxRequestLine,
            MaxHeaderBytes = options.MaxHeaderBytes,
            MaxHeaderCount = options.MaxHeaderCount,
            HeaderTimeout = options.HeaderTimeout,
            LingerTimeout = options.LingerTimeout,
            MaxSendPerTurn = options.MaxSendPerTurn,
            MaxRequestsPerTurn = Math.Max(1, options.MaxRequestsPerTurn),
            ColdFiles = options.ColdFiles,
            Socket = new ServerOptions
            {
                MaxConnections = (int)Math.Clamp((fdLimit - reserve) / 2 / loops, 1, Math.Max(1, options.MaxConnections / loops)),
                DescriptorReserve = reserve,
                Connection = new ConnectionOptions { IdleTimeout = options.IdleTimeout },
            },
        };
    }

    public FileServerOptions Options { get; }

    public string RootPath { get; }

    public IPEndPoint LocalEndPoint => _server?.LocalEndPoint as IPEndPoint ?? new IPEndPoint(IPAddress.Any, 0);

    public FileServerStats Stats { get; }

    public int ConnectionCount => _server?.ConnectionCount ?? 0;

    public long TotalAccepted => _server?.TotalAccepted ?? 0;

    internal HttpServer? Http => _server;

    internal ILogger Logger => _logger;

    internal EventLoop Loop => _loop;

    /// <summary>Starts a server listening on <paramref name="endPoint"/> on <paramref name="loop"/> (its thread, or before it runs).</summary>
    public static StaticFileServer Start(EventLoop loop, IPEndPoint endPoint, FileServerOptions options, ILogger logger)
    {
        StaticFileServer server = ForLoop(loop, options, logger);
        try
        {
            server.Attach(loop.ListenHttp(endPoint, server.Handle, HttpOptionsFor(options, loops: 1)));
        }
        catch
        {
            server.Dispose();
            throw;
        }
        Log.Listening(logger, server.RootPath, server.LocalEndPoint.ToString());
        return server;
    }

    /// <summary>A server for one loop of a group: its handler is <see cref="Handle"/>; <see cref="Attach"/> follows.</summary>
    public static StaticFileServer ForLoop(EventLoop loop, FileServerOptions options, ILogger logger)
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
        return new StaticFileServer(loop, options, logger, root, rootPath);
    }

    public void Attach(HttpServer server) => _server = server;

    /// <summary>Answers one request (Kevents.Http's handler).</summary>
    public ValueTask Handle(HttpRequest request, HttpResponse response)
    {
        bool isGet = ReferenceEquals(request.Method, "GET");
        bool isHead = ReferenceEquals(request.Method, "HEAD");
        if (!isGet && !isHead)
        {
            // A body that follows is read and dropped by the layer, so the connection stays in step.
            Error(response, 405, request.Target, "method not allowed");
            response.AddHeader("Allow"u8, "GET, HEAD"u8);
            return default;
        }
        if (request.HasBody)
        {
            // A static server accepts no request bodies; reading and discarding one only invites slow-body abuse.
            Error(response, 413, request.Target, "request body on GET/HEAD");
            response.CloseConnection = true;
            return default;
        }
        string? relative = HttpRequestPath.Resolve(request.Target, out string reason);
        if (relative is null)
        {
            Error(response, 400, request.Target, reason);
            response.CloseConnection = true;
            return default;
        }
        // Two Range fields are ambiguous; RFC 9110 lets a server ignore Range, so it does.
        string? range = request.CountHeader("Range") == 1 ? request.GetHeader("Range") : null;
        ValueTask<OpenedFile> open;
        try
        {
            open = OpenAsync(relative);
        }
        catch (ThreadletQueueFullException)
        {
            Error(response, 503, request.Target, "cache-miss queue full");
            response.CloseConnection = true;
            return default;
        }
        if (open.IsCompletedSuccessfully)
        {
            Respond(request.Target, range, response, open.Result);
            return default;
        }
        return AwaitOpenAsync(request.Target, range, response, open);
    }

    private async ValueTask AwaitOpenAsync(string target, string? range, HttpResponse response, ValueTask<OpenedFile> open)
    {
        OpenedFile opened;
        try
        {
            opened = await open;
        }
        catch (Exception ex) when (ex is ThreadletQueueFullException or ObjectDisposedException or OperationCanceledException)
        {
            // Queue full or the loop shutting down: nothing was opened.
            Error(response, 503, target, ex.Message);
            response.CloseConnection = true;
            return;
        }
        Respond(target, range, response, opened);
    }

    private void Respond(string target, string? rangeHeader, HttpResponse response, OpenedFile opened)
    {
        if (opened.Errno < 0)
        {
            int errno = -opened.Errno;
            int status = errno switch
            {
                Errno.ENOENT or Errno.ENOTDIR or Errno.ENAMETOOLONG => 404,
                Errno.EACCES or Errno.EPERM or Errno.EXDEV or Errno.ELOOP or Errno.ENXIO => 403,
                Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM => 503,
                _ => 500,
            };
            if (status >= 500)
            {
                Log.OpenFailed(_logger, opened.Path, errno);
                response.CloseConnection = true;
            }
            Error(response, status, target, $"open: errno {errno}");
            return;
        }
        FileDescriptor file = opened.File!;
        if (!opened.Status.IsRegularFile)
        {
            file.Dispose();
            Error(response, 403, target, "not a regular file");
            return;
        }

        long length = opened.Status.Length;
        RangeOutcome range = ByteRange.Apply(rangeHeader, length, out long start, out long count);
        if (range == RangeOutcome.Unsatisfiable)
        {
            file.Dispose();
            Error(response, 416, target, "range not satisfiable");
            Span<byte> unsatisfied = stackalloc byte[64];
            var writer = new HttpHeadWriter(unsatisfied);
            writer.Append("bytes */"u8);
            writer.Number(length);
            response.AddHeader("Content-Range"u8, unsatisfied[..writer.Length]);
            return;
        }

        response.StatusCode = range == RangeOutcome.Partial ? 206 : 200;
        response.AddHeader("Content-Type"u8, ContentTypes.For(opened.Path));
        Span<byte> text = stackalloc byte[96];
        opened.Status.LastWriteTime.UtcDateTime.TryFormat(text, out int written, "R");
        response.AddHeader("Last-Modified"u8, text[..written]);
        response.AddHeader("Accept-Ranges"u8, "bytes"u8);
        if (range == RangeOutcome.Partial)
        {
            var writer = new HttpHeadWriter(text);
            writer.Append("bytes "u8);
            writer.Number(start);
            writer.Append("-"u8);
            writer.Number(start + count - 1);
            writer.Append("/"u8);
            writer.Number(length);
            response.AddHeader("Content-Range"u8, text[..writer.Length]);
        }
        Stats.BodyBytes += count;
        if (count > 0 && count <= Options.SmallFileLimit)
        {
            // Small and cached (RWF_NOWAIT answers from the page cache or says EAGAIN): the body goes out in the same
            // send as the head.
            Span<byte> body = response.GetSpan((int)count)[..(int)count];
            long read = file.Read(body, start, noWait: true);
            if (read == count)
            {
                response.Advance((int)count);
                file.Dispose();
                return;
            }
        }
        response.SendFile(file, start, count); // the layer closes the file once sent, or when the connection ends
    }

    private void Error(HttpResponse response, int status, string target, string reason)
    {
        Log.ClientError(_logger, status, target, reason);
        response.StatusCode = status;
        response.AddHeader("Content-Type"u8, s_errorType);
        response.Write(HttpHeadWriter.Reason(status));
        response.Write("\n"u8);
    }

    internal bool ForceCacheMiss { get; set; }

    internal Action? BeforeBlockingOpen { get; set; }

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

    private static int OpenBeneathRoot(FileDescriptor root, string path, bool cachedOnly, out FileDescriptor? file) =>
        root.OpenBeneath(path, FileOpenFlags.ReadOnly, cachedOnly, out file);

    public void Dispose()
    {
        _server?.Dispose();
        _root.Dispose();
    }
}

internal readonly record struct OpenedFile(int Errno, FileDescriptor? File, FileStatus Status, string Path);
