namespace Kevents.Net;

/// <summary>How a listener on an <see cref="EventLoopGroup"/> spreads connections over the group's loops.</summary>
public enum LoopDistribution
{
    /// <summary>
    /// One SO_REUSEPORT listener per loop on the same port; the kernel hashes each connection's addresses and ports to
    /// one of them. No hand-off and no shared state; the spread is random, so it is even over many connections.
    /// </summary>
    ReusePort,

    /// <summary>
    /// <see cref="ReusePort"/> plus a classic BPF program (SO_ATTACH_REUSEPORT_CBPF) that picks the listener of the
    /// CPU the connection's packets arrived on, so a connection is served by the core that received it. Needs the
    /// loops pinned with <see cref="EventLoopGroupOptions.PinToCpus"/>, loop i on CPU i, and one loop per CPU the
    /// process may use: the program returns a CPU number, and the kernel reads it as the index of a listener.
    /// </summary>
    ReusePortCpu,

    /// <summary>
    /// One listener on loop 0 accepts every connection and hands it to the loop with the fewest live connections; the
    /// connection stays there for life. For kernels or containers where reuseport's hashing spreads poorly (few
    /// clients, long-lived connections). Costs one cross-loop post per accepted connection.
    /// </summary>
    Acceptor,
}
