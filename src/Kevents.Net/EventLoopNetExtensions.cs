using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>Sockets on the loop: listen and connect over TCP (IPv4, IPv6) and Unix domain sockets.</summary>
public static class EventLoopNetExtensions
{
    // sizeof(sockaddr_un.sun_path) minus the terminating NUL.
    private const int MaxUnixPathBytes = 107;

    /// <summary>
    /// Listens on <paramref name="endPoint"/> and runs <paramref name="application"/> for every connection, on the
    /// loop thread. When the returned task completes the connection sends what was flushed and closes. Loop thread
    /// only (or before the loop runs).
    /// </summary>
    /// <exception cref="SocketException">The address cannot be bound; the message names it (e.g. "address already in use").</exception>
    public static SocketServer ListenTcp(this EventLoop loop, IPEndPoint endPoint, Func<PipeConnection, Task> application, ServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(application);
        return Listen(loop, endPoint, options, application, null);
    }

    /// <summary>Listens on <paramref name="endPoint"/> with the low-level API: <paramref name="handler"/> gets the bytes, no pipes.</summary>
    public static SocketServer ListenTcp(this EventLoop loop, IPEndPoint endPoint, IStreamHandler handler, ServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Listen(loop, endPoint, options, null, handler);
    }

    /// <summary>Listens on the Unix domain socket <paramref name="path"/>, with pipes.</summary>
    /// <exception cref="ArgumentException">The path is longer than a Unix socket address can hold.</exception>
    public static SocketServer ListenUnix(this EventLoop loop, string path, Func<PipeConnection, Task> application, ServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(application);
        return Listen(loop, UnixEndPoint(path), options, application, null);
    }

    /// <summary>Listens on the Unix domain socket <paramref name="path"/> with the low-level API.</summary>
    public static SocketServer ListenUnix(this EventLoop loop, string path, IStreamHandler handler, ServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Listen(loop, UnixEndPoint(path), options, null, handler);
    }

    /// <summary>
    /// Connects to <paramref name="endPoint"/> (TCP or Unix) from the loop and returns the connection as pipes. The
    /// task fails with <see cref="SocketException"/> (e.g. ConnectionRefused), <see cref="TimeoutException"/> after
    /// <paramref name="timeout"/> (default 30 s), or is cancelled with <paramref name="cancellationToken"/>; the socket
    /// is closed in each of those cases. Safe from any thread.
    /// </summary>
    public static Task<PipeConnection> ConnectAsync(this EventLoop loop, EndPoint endPoint, TimeSpan? timeout = null,
        ConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ConnectionOptions connectionOptions = (options ?? new ConnectionOptions()).Validate();
        return StartConnect(loop, endPoint, timeout, cancellationToken, socket =>
        {
            Configure(socket, endPoint, connectionOptions);
            var connection = new PipeConnection(loop, socket, connectionOptions, server: null);
            connection.Begin(application: null);
            return connection;
        });
    }

    /// <summary>Connects to <paramref name="endPoint"/> with the low-level API: <paramref name="handler"/> gets the bytes. Safe from any thread.</summary>
    public static Task<StreamConnection> ConnectAsync(this EventLoop loop, EndPoint endPoint, IStreamHandler handler, TimeSpan? timeout = null,
        ConnectionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ConnectionOptions connectionOptions = (options ?? new ConnectionOptions()).Validate();
        return StartConnect(loop, endPoint, timeout, cancellationToken, socket =>
        {
            Configure(socket, endPoint, connectionOptions);
            var connection = new StreamConnection(loop, socket, connectionOptions, server: null, handler, ReadBuffer.For(loop));
            connection.Begin();
            return connection;
        });
    }

    /// <summary>The endpoint for a Unix socket path, with a clear error when the path is too long.</summary>
    public static UnixDomainSocketEndPoint UnixEndPoint(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int bytes = Encoding.UTF8.GetByteCount(path);
        if (bytes > MaxUnixPathBytes)
        {
            throw new ArgumentException(
                $"The Unix socket path '{path}' is {bytes} bytes long; Linux allows at most {MaxUnixPathBytes}. Use a shorter path (for example under /tmp or /run).",
                nameof(path));
        }
        return new UnixDomainSocketEndPoint(path);
    }

    private static SocketServer Listen(EventLoop loop, EndPoint endPoint, ServerOptions? options, Func<PipeConnection, Task>? application, IStreamHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(endPoint);
        loop.VerifyAccess("Listen");
        return new SocketServer(loop, endPoint, options ?? new ServerOptions(), application, handler);
    }

    private static Task<T> StartConnect<T>(EventLoop loop, EndPoint endPoint, TimeSpan? timeout, CancellationToken cancellationToken,
        Func<FileDescriptor, T> create) where T : Connection
    {
        ArgumentNullException.ThrowIfNull(loop);
        NetErrors.CheckConnectable(endPoint, nameof(endPoint), "ConnectAsync");
        TimeSpan limit = timeout ?? TimeSpan.FromSeconds(30);
        if (limit != Timeout.InfiniteTimeSpan && limit <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The ConnectAsync timeout must be positive, or Timeout.InfiniteTimeSpan to wait as long as the kernel keeps trying.");
        }
        var connector = new Connector<T>(loop, endPoint, limit, cancellationToken, create, resumeOffLoop: !loop.IsOnLoopThread);
        if (loop.IsRunning && !loop.IsOnLoopThread)
        {
            loop.Post(static s => ((Connector<T>)s!).Start(), connector);
        }
        else
        {
            connector.Start();
        }
        return connector.Task;
    }

    private static void Configure(FileDescriptor socket, EndPoint endPoint, ConnectionOptions options)
    {
        if (endPoint is IPEndPoint && options.NoDelay)
        {
            NativeSocket.SetNoDelay(socket.Fd, true);
        }
    }
}
