namespace Kevents.Net;

/// <summary>Settings of a <see cref="UdpSocket"/>. Every one has a safe default.</summary>
public sealed class UdpOptions
{
    /// <summary>
    /// The largest datagram received whole; a longer one arrives cut to this size with its truncated flag set.
    /// Default 2 KiB, which holds anything that crosses an Ethernet link unfragmented (1500-byte MTU). Raise it
    /// (up to 65,535) for protocols that send larger datagrams, such as DNS with EDNS (4 KiB) or loopback traffic.
    /// </summary>
    public int MaxDatagramSize { get; set; } = 2048;

    /// <summary>
    /// Datagrams taken from the kernel per recvmmsg call. Default 32: the receive buffer is this times
    /// <see cref="MaxDatagramSize"/> (64 KiB by default), allocated once per socket.
    /// </summary>
    public int ReceiveBatchSize { get; set; } = 32;

    /// <summary>
    /// recvmmsg calls per readable event, so one busy socket cannot monopolise the loop; what is left waits for the
    /// next turn. Default 4 (at most 128 datagrams per turn with the default batch).
    /// </summary>
    public int MaxReceiveBatchesPerTurn { get; set; } = 4;

    /// <summary>
    /// Datagrams <see cref="UdpSocket.Send"/> may queue while the kernel's send buffer is full. Beyond this (or
    /// <see cref="MaxQueuedBytes"/>) new datagrams are dropped and counted in <see cref="UdpSocket.DatagramsDropped"/>:
    /// UDP promises no delivery, and an unbounded queue would turn a slow network into unbounded memory. Default 256.
    /// </summary>
    public int MaxQueuedDatagrams { get; set; } = 256;

    /// <summary>Bytes of queued datagrams, allocated on the first send that has to wait. Default 256 KiB.</summary>
    public int MaxQueuedBytes { get; set; } = 256 * 1024;

    /// <summary>SO_RCVBUF in bytes; 0 keeps the kernel's default (net.core.rmem_default). Raise it for bursty traffic.</summary>
    public int SocketReceiveBufferSize { get; set; }

    /// <summary>SO_SNDBUF in bytes; 0 keeps the kernel's default (net.core.wmem_default).</summary>
    public int SocketSendBufferSize { get; set; }

    /// <summary>SO_REUSEADDR before binding. Default false: for UDP it lets two sockets share a port, rarely what you want.</summary>
    public bool ReuseAddress { get; set; }

    /// <summary>SO_REUSEPORT: several sockets (one per loop) bind the same port and the kernel spreads datagrams across them.</summary>
    public bool ReusePort { get; set; }

    internal UdpOptions Validate()
    {
        if (MaxDatagramSize < 1 || MaxDatagramSize > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxDatagramSize), MaxDatagramSize, "A datagram slot holds 1 to 65,535 bytes.");
        }
        if (ReceiveBatchSize < 1 || ReceiveBatchSize > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(ReceiveBatchSize), ReceiveBatchSize, "Receive 1 to 1,024 datagrams per call (the kernel's UIO_MAXIOV).");
        }
        if (MaxReceiveBatchesPerTurn < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxReceiveBatchesPerTurn), MaxReceiveBatchesPerTurn, "Receive at least one batch per turn.");
        }
        if (MaxQueuedDatagrams < 1 || MaxQueuedDatagrams > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedDatagrams), MaxQueuedDatagrams, "Queue 1 to 1,024 datagrams (one sendmmsg call sends at most 1,024).");
        }
        if (MaxQueuedBytes < MaxQueuedDatagrams)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxQueuedBytes), MaxQueuedBytes, "Allow at least one byte per queued datagram.");
        }
        if (SocketReceiveBufferSize < 0 || SocketSendBufferSize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(SocketReceiveBufferSize), "Socket buffer sizes are 0 (kernel default) or positive.");
        }
        return this;
    }
}
