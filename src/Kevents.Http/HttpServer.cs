using System.Net;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace Kevents.Http;

/// <summary>
/// An HTTP/1.1 server on one loop (from <see cref="EventLoopHttpExtensions.ListenHttp(EventLoop, IPEndPoint, HttpHandler, HttpServerOptions?)"/>),
/// or one loop's share of a group's (<see cref="HttpServerGroup"/>). Counters are read on the loop thread.
/// </summary>
public sealed class HttpServer : IDisposable
{
    private readonly StreamHandler _streamHandler;
    private SocketServer? _socketServer;
    private HttpConnection? _firstLive;
    private TaskCompletionSource? _drained;
    private DeadlineTimer? _deadline;

    internal HttpServer(EventLoop loop, HttpHandler handler, HttpServerOptions options)
    {
        Loop = loop;
        Handler = handler;
        Options = options;
        Logger = loop.LoggerFactory.CreateLogger("Kevents.Http");
        HeaderTimeoutNs = HttpServerOptions.ToNanoseconds(options.HeaderTimeout);
        LingerTimeoutNs = HttpServerOptions.ToNanoseconds(options.LingerTimeout);
        MinBodyRate = options.MinBodyRate;
        BodyRateWindowNs = options.MinBodyRateWindowNs;
        _streamHandler = new StreamHandler(this);
    }

    /// <summary>The loop this server's connections run on.</summary>
    public EventLoop Loop { get; }

    /// <summary>The settings it was started with.</summary>
    public HttpServerOptions Options { get; }

    /// <summary>The address it listens on (the port chosen when 0 was asked).</summary>
    public EndPoint LocalEndPoint => _socketServer?.LocalEndPoint ?? new IPEndPoint(IPAddress.None, 0);

    /// <summary>Open connections.</summary>
    public int ConnectionCount { get; private set; }

    /// <summary>Connections accepted since the start.</summary>
    public long TotalAccepted => _socketServer?.TotalAccepted ?? 0;

    /// <summary>Requests parsed (handed to the handler, or refused with 413 for a declared body too large).</summary>
    public long Requests { get; internal set; }

    /// <summary>Responses sent with a status below 400.</summary>
    public long SuccessResponses { get; private set; }

    /// <summary>Responses sent with a status from 400 to 499, and the layer's refusals of malformed requests whatever their status (501, 505).</summary>
    public long ClientErrorResponses { get; private set; }

    /// <summary>Responses sent with a status of 500 or more.</summary>
    public long ServerErrorResponses { get; private set; }

    /// <summary>Requests refused because they broke the protocol or a limit (the 400, 408, 413, 414, 431, 501 and 505 answers the layer gives).</summary>
    public long ProtocolErrors { get; internal set; }

    /// <summary>File bodies cut short because the peer went away, a send failed, or the file shrank.</summary>
    public long AbortedResponses { get; internal set; }

    /// <summary>
    /// File body ranges that were not in the page cache and were read into it by a threadlet before being sent
    /// (<see cref="HttpServerOptions.ColdFiles"/>): each one a wait for the disk that the loop did not have.
    /// </summary>
    public long ColdFileReads { get; internal set; }

    /// <summary>Test hook: runs on the cache-miss thread before each cold read, so a test can hold it there.</summary>
    internal Action? BeforeColdRead { get; set; }

    /// <summary>The most requests one connection had handled in one go (bounded by <see cref="HttpServerOptions.MaxRequestsPerTurn"/>).</summary>
    public int MostRequestsInOneTurn { get; private set; }

    /// <summary>Unparsed input bytes moved to the front of a buffer to make room (linear in the input, never per request).</summary>
    public long InputBytesMoved { get; internal set; }

    /// <summary>Reads handed to the layer (OnData calls), for tests of the one-send-per-read rule.</summary>
    internal long Reads { get; set; }

    /// <summary>Sends of buffered responses (SendDirect calls), for the same tests.</summary>
    internal long Sends { get; set; }

    internal HttpHandler Handler { get; }

    internal ILogger Logger { get; }

    internal long HeaderTimeoutNs { get; }

    internal long LingerTimeoutNs { get; }

    /// <summary>The minimum request-body rate in bytes per second (0: off).</summary>
    internal double MinBodyRate { get; }

    /// <summary>The length of a body-rate window; long.MaxValue when bodies are never judged.</summary>
    internal long BodyRateWindowNs { get; }

    internal IStreamHandler StreamHandlerForSocket => _streamHandler;

    internal void Attach(SocketServer socketServer) => _socketServer = socketServer;

    internal void NoteRequestsInOneTurn(int handled)
    {
        if (handled > MostRequestsInOneTurn)
        {
            MostRequestsInOneTurn = handled;
        }
    }

    /// <param name="status">The status sent.</param>
    /// <param name="clientFault">The layer refused the request (a 501 or 505 for a malformed one is the client's fault too).</param>
    internal void CountResponse(int status, bool clientFault)
    {
        if (status < 400)
        {
            SuccessResponses++;
        }
        else if (status < 500 || clientFault)
        {
            ClientErrorResponses++;
        }
        else
        {
            ServerErrorResponses++;
        }
    }

    /// <summary>
    /// Stops accepting, closes idle connections at once, lets requests in flight finish (their connections close after
    /// the response), and aborts what is still open after <paramref name="drainTimeout"/> (default 30 s;
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits for all). Completes when no connection is left. Any thread.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A negative timeout other than <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public Task ShutdownAsync(TimeSpan? drainTimeout = null)
    {
        TimeSpan timeout = drainTimeout ?? TimeSpan.FromSeconds(30);
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(drainTimeout), timeout,
                "The drain timeout must be zero or more, or Timeout.InfiniteTimeSpan to wait for every connection.");
        }
        if (!Loop.IsOnLoopThread && Loop.IsRunning)
        {
            var posted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Loop.Post(() => ShutdownAsync(timeout).ContinueWith(_ => posted.TrySetResult(), TaskScheduler.Default));
            return posted.Task;
        }
        if (_drained is not null)
        {
            return _drained.Task;
        }
        _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _socketServer?.StopAccepting();
        for (HttpConnection? c = _firstLive; c is not null;)
        {
            HttpConnection? next = c.NextLive;
            c.RequestShutdown();
            c = next;
        }
        if (ConnectionCount == 0)
        {
            _drained.TrySetResult();
        }
        else if (timeout != Timeout.InfiniteTimeSpan)
        {
            _deadline = new DeadlineTimer(this);
            _deadline.Start(timeout);
        }
        return _drained.Task;
    }

    /// <summary>Stops listening and closes every connection at once. Call on the loop thread (or after the loop stopped).</summary>
    public void Dispose()
    {
        _deadline?.Stop();
        _socketServer?.Dispose();
    }

    private void AbortAll()
    {
        HttpLog.ShutdownDeadline(Logger, ConnectionCount);
        for (HttpConnection? c = _firstLive; c is not null;)
        {
            HttpConnection? next = c.NextLive;
            c.Abort("the shutdown deadline passed");
            c = next;
        }
    }

    private sealed class DeadlineTimer(HttpServer server) : ILoopTimerTarget
    {
        private LoopTimer _timer;

        public void Start(TimeSpan timeout) => _timer = server.Loop.StartTimer(timeout, this);

        public void Stop()
        {
            if (!_timer.IsNone && (server.Loop.IsOnLoopThread || !server.Loop.IsRunning))
            {
                server.Loop.StopTimer(ref _timer);
            }
        }

        public void OnTimer()
        {
            _timer = default;
            if (server.ConnectionCount > 0)
            {
                server.AbortAll();
            }
        }
    }

    private sealed class StreamHandler(HttpServer server) : IStreamHandler
    {
        public void OnConnected(StreamConnection connection)
        {
            var http = new HttpConnection(server, connection);
            connection.State = http;
            http.NextLive = server._firstLive;
            if (server._firstLive is not null)
            {
                server._firstLive.PreviousLive = http;
            }
            server._firstLive = http;
            server.ConnectionCount++;
            if (server._drained is not null)
            {
                connection.Close();
                return;
            }
            http.Start();
        }

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => ((HttpConnection)connection.State!).OnData(data);

        public void OnEndOfStream(StreamConnection connection) => ((HttpConnection)connection.State!).OnEndOfStream();

        public void OnClosed(StreamConnection connection, Exception? error)
        {
            var http = (HttpConnection)connection.State!;
            http.OnClosed();
            if (http.PreviousLive is null)
            {
                server._firstLive = http.NextLive;
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
            server.ConnectionCount--;
            if (server.ConnectionCount == 0 && server._drained is not null)
            {
                server._deadline?.Stop();
                server._drained.TrySetResult();
            }
        }
    }
}
