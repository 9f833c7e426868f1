using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net.Internal;
using Microsoft.Extensions.Logging;

namespace Kevents.Net;

/// <summary>
/// A UDP socket on a loop, bound (<see cref="EventLoopUdpExtensions.BindUdp"/>) or connected to one peer
/// (<see cref="EventLoopUdpExtensions.ConnectUdp"/>). When it is readable the loop takes a batch of datagrams with one
/// recvmmsg call and hands each to the <see cref="IDatagramHandler"/>; <see cref="Send"/> goes straight to the kernel
/// and queues only when the kernel's buffer is full. Loop thread only, except <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para>
/// Errors are events, not exceptions: ICMP port unreachable on a connected socket (ECONNREFUSED), a send the kernel
/// refuses (EMSGSIZE, EHOSTUNREACH, a missing destination) and the like reach <see cref="IDatagramHandler.OnError"/>,
/// and the socket stays open. An unconnected socket hears nothing of ICMP errors (Linux reports them only to
/// connected sockets unless IP_RECVERR is set).
/// </para>
/// <para>
/// Allocation: receiving allocates nothing per datagram; the sender's <see cref="EndPoint"/> is built only when the
/// sender differs from the previous datagram's. Sending to an <see cref="IPEndPoint"/> allocates nothing; the send
/// queue is allocated on the first send that has to wait, and kept.
/// </para>
/// <para>After <see cref="Dispose"/> no handler method runs and the descriptor is closed.</para>
/// </remarks>
public sealed class UdpSocket : IDisposable
{
    private static long s_nextId;

    private readonly EventLoop _loop;
    private readonly IDatagramHandler _handler;
    private readonly UdpOptions _options;
    private readonly ILogger _logger;
    private readonly DatagramBatch _received;
    private readonly KeventHandler _onReadable;
    private readonly KeventHandler _onWritable;
    private readonly bool _dualStack;
    private readonly bool _connected;
    private FileDescriptor? _socket;
    private DatagramBatch? _queue;
    private bool _writeWatched;

    // The last sender seen, as native bytes and as the EndPoint built from them: a run of datagrams from one peer
    // (the usual case) builds its EndPoint once.
    private readonly byte[] _lastSenderAddress = new byte[DatagramBatch.AddressSize];
    private int _lastSenderLength;
    private EndPoint? _lastSender;

    internal UdpSocket(EventLoop loop, FileDescriptor socket, IDatagramHandler handler, UdpOptions options, bool connected, EndPoint? remote)
    {
        _loop = loop;
        _socket = socket;
        _handler = handler;
        _options = options;
        _logger = loop.LoggerFactory.CreateLogger("Kevents.Net");
        Id = Interlocked.Increment(ref s_nextId);
        _connected = connected;
        RemoteEndPoint = remote;
        LocalEndPoint = NativeSocket.GetLocalEndPoint(socket.Fd);
        _dualStack = LocalEndPoint?.AddressFamily == AddressFamily.InterNetworkV6;
        _received = new DatagramBatch(options.ReceiveBatchSize, options.ReceiveBatchSize * options.MaxDatagramSize);
        _onReadable = OnReadable;
        _onWritable = OnWritable;
        _loop.Register(Kevent.Read(socket.Fd), _onReadable);
        NetLog.UdpBound(_logger, Id, LocalEndPoint is null ? "?" : NetErrors.Describe(LocalEndPoint));
    }

    /// <summary>A process-wide unique number for logs.</summary>
    public long Id { get; }

    /// <summary>The loop this socket lives on.</summary>
    public EventLoop Loop => _loop;

    /// <summary>The local address (with the real port when bound to port 0).</summary>
    public EndPoint? LocalEndPoint { get; }

    /// <summary>The peer of a connected socket; null for a bound one (or an unnamed Unix peer).</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>True when the socket is connected to one peer (ConnectUdp, or an adopted connected socket).</summary>
    public bool IsConnected => _connected;

    /// <summary>True once disposed.</summary>
    public bool IsClosed => _socket is null;

    /// <summary>The descriptor number while open (-1 after dispose).</summary>
    public int Descriptor => _socket?.Fd ?? -1;

    /// <summary>Datagrams handed to <see cref="IDatagramHandler.OnDatagram"/>.</summary>
    public long DatagramsReceived { get; private set; }

    /// <summary>recvmmsg calls that returned at least one datagram; DatagramsReceived / ReceiveBatches is the mean batch.</summary>
    public long ReceiveBatches { get; private set; }

    /// <summary>Received datagrams that were longer than <see cref="UdpOptions.MaxDatagramSize"/> and arrived cut short.</summary>
    public long DatagramsTruncated { get; private set; }

    /// <summary>Datagrams the kernel accepted for sending (at once or from the queue).</summary>
    public long DatagramsSent { get; private set; }

    /// <summary>Datagrams <see cref="Send"/> dropped because the send queue was full.</summary>
    public long DatagramsDropped { get; private set; }

    /// <summary>Errors reported to <see cref="IDatagramHandler.OnError"/>.</summary>
    public long Errors { get; private set; }

    /// <summary>Datagrams waiting in the send queue for the socket to become writable.</summary>
    public int QueuedDatagrams => _queue?.Count ?? 0;

    /// <summary>
    /// Sends <paramref name="data"/> as one datagram to <paramref name="remote"/> (null: the peer of a connected
    /// socket). Straight to the kernel when nothing is queued; when the kernel's buffer is full, a copy waits in a
    /// bounded queue and goes out, in order, once the socket is writable. Never throws for a network outcome.
    /// </summary>
    /// <returns>
    /// True when the kernel took the datagram or it was queued. False when it was dropped: the socket is closed, the
    /// queue is full (counted in <see cref="DatagramsDropped"/>), or the kernel refused it, in which case
    /// <see cref="IDatagramHandler.OnError"/> has already run with the reason. True does not mean delivered: this is UDP.
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="remote"/> is a host name (<see cref="DnsEndPoint"/>) or another
    /// kind of address a socket cannot use: resolve it to an <see cref="IPEndPoint"/> first.</exception>
    public bool Send(ReadOnlySpan<byte> data, EndPoint? remote = null)
    {
        if (remote is not null and not IPEndPoint)
        {
            NetErrors.CheckConnectable(remote, nameof(remote), "UdpSocket.Send");
        }
        if (_socket is null)
        {
            return false;
        }
        if (_queue is null || _queue.Count == 0)
        {
            long rc = NativeSocket.SendTo(_socket.Fd, data, remote, _dualStack);
            if (rc >= 0)
            {
                DatagramsSent++;
                return true;
            }
            if (rc != -Errno.EAGAIN)
            {
                ReportError((int)rc);
                return false;
            }
        }
        // Queued output goes first, so this datagram waits behind it: datagrams leave in the order they were sent.
        return Enqueue(data, remote);
    }

    /// <summary>
    /// Closes the socket: no handler method runs afterwards, queued datagrams are discarded and the descriptor is
    /// closed. Safe from any thread (posts itself to the loop when called elsewhere while it runs) and idempotent.
    /// </summary>
    public void Dispose()
    {
        if (_loop.IsRunning && !_loop.IsOnLoopThread)
        {
            _loop.Post(static s => ((UdpSocket)s!).Dispose(), this);
            return;
        }
        FileDescriptor? socket = _socket;
        if (socket is null)
        {
            return;
        }
        _socket = null;
        try
        {
            _loop.Unregister((ulong)socket.Fd, KeventFilter.Read);
            if (_writeWatched)
            {
                _loop.Unregister((ulong)socket.Fd, KeventFilter.Write);
            }
        }
        catch (ObjectDisposedException)
        {
            // The loop went first and took its registrations with it; only the descriptor is left to close.
        }
        _writeWatched = false;
        _queue?.Clear();
        socket.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"UDP socket {Id} ({(LocalEndPoint is null ? "?" : NetErrors.Describe(LocalEndPoint))}{(RemoteEndPoint is null ? "" : " -> " + NetErrors.Describe(RemoteEndPoint))})";

    private void OnReadable(in Kevent ev)
    {
        if (ev.IsError)
        {
            // The loop read SO_ERROR to build this event, which clears it: this is the only report of it we get.
            ReportError((int)ev.Data);
        }
        for (int round = 0; round < _options.MaxReceiveBatchesPerTurn; round++)
        {
            if (_socket is null)
            {
                return;
            }
            int n = NativeSocket.ReceiveBatch(_socket.Fd, _received, withAddresses: !IsConnected);
            if (n <= 0)
            {
                if (n < 0 && n != -Errno.EAGAIN)
                {
                    ReportError(n);
                }
                return;
            }
            ReceiveBatches++;
            for (int i = 0; i < n && _socket is not null; i++)
            {
                Dispatch(i);
            }
            if (n < _received.Capacity)
            {
                // The kernel had fewer than a full batch, so the socket is drained; skip the call that would say EAGAIN.
                return;
            }
        }
    }

    private void Dispatch(int index)
    {
        bool truncated = _received.IsTruncated(index);
        EndPoint? remote = IsConnected ? RemoteEndPoint : SenderOf(_received.GetAddress(index));
        DatagramsReceived++;
        if (truncated)
        {
            DatagramsTruncated++;
        }
        try
        {
            _handler.OnDatagram(this, _received.GetData(index), remote, truncated);
        }
        catch (Exception ex)
        {
            // One bad datagram must not cost the rest of the batch, which the kernel has already handed over.
            NetLog.UdpHandlerFailed(_logger, Id, ex);
        }
    }

    private EndPoint? SenderOf(ReadOnlySpan<byte> address)
    {
        if (address.IsEmpty)
        {
            return null;
        }
        if (_lastSender is not null && address.SequenceEqual(_lastSenderAddress.AsSpan(0, _lastSenderLength)))
        {
            return _lastSender;
        }
        EndPoint? sender = NativeSocket.ToEndPoint(address);
        address.CopyTo(_lastSenderAddress);
        _lastSenderLength = address.Length;
        _lastSender = sender;
        return sender;
    }

    private bool Enqueue(ReadOnlySpan<byte> data, EndPoint? remote)
    {
        _queue ??= new DatagramBatch(_options.MaxQueuedDatagrams, _options.MaxQueuedBytes);
        if (!_queue.TryAdd(data, remote, _dualStack))
        {
            DatagramsDropped++;
            NetLog.UdpSendQueueFull(_logger, Id, _queue.Count, data.Length);
            return false;
        }
        if (!_writeWatched)
        {
            _writeWatched = true;
            _loop.Register(Kevent.Write(_socket!.Fd), _onWritable);
        }
        return true;
    }

    private void OnWritable(in Kevent ev)
    {
        // An error flag here is the same socket error the read side reports; the sends below meet their own errors.
        DatagramBatch? queue = _queue;
        // Bounded: each pass either sends something, drops the datagram that failed, or stops on EAGAIN.
        for (int pass = 0; pass < 8 && _socket is not null && queue is not null && queue.Count > 0; pass++)
        {
            int rc = NativeSocket.SendBatch(_socket.Fd, queue);
            if (rc == -Errno.EAGAIN)
            {
                return;
            }
            if (rc < 0)
            {
                // The oldest datagram cannot be sent (too big, no route): drop it so the rest can go.
                queue.RemoveFirst(1);
                ReportError(rc);
                continue;
            }
            DatagramsSent += rc;
        }
        if (_socket is not null && _writeWatched && (queue is null || queue.Count == 0))
        {
            _writeWatched = false;
            _loop.Unregister((ulong)_socket.Fd, KeventFilter.Write);
        }
    }

    /// <summary>Counts, logs and hands <paramref name="error"/> (negative errno, as everywhere in the API) to the handler.</summary>
    private void ReportError(int error)
    {
        Debug.Assert(error < 0, "errors travel as -errno");
        Errors++;
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            NetLog.UdpError(_logger, Id, Errno.Describe(error));
        }
        try
        {
            _handler.OnError(this, error);
        }
        catch (Exception ex)
        {
            NetLog.UdpHandlerFailed(_logger, Id, ex);
        }
    }
}
