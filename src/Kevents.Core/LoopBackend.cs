namespace Kevents;

/// <summary>Which kernel interface an <see cref="EventLoop"/> waits in (see <see cref="EventLoopOptions.Backend"/>).</summary>
public enum LoopBackend
{
    /// <summary>
    /// Whatever the environment variable <c>KEVENTS_BACKEND</c> names (<c>epoll</c> or <c>io_uring</c>), so a whole
    /// process can be switched without a code change; <see cref="Epoll"/> when it is unset.
    /// </summary>
    Default = 0,

    /// <summary>epoll: readiness of descriptors, one epoll_ctl per change of interest. The default.</summary>
    Epoll = 1,

    /// <summary>
    /// io_uring: the loop's ring is the poller. Interest in a descriptor is a poll request in the ring (one-shot and
    /// re-armed after each delivery for level-triggered registrations, multishot for <see cref="KeventFlags.Clear"/>),
    /// and one io_uring_enter per turn submits every change and waits, with the next timer as its timeout. Kevents.Net's
    /// connections receive through one multishot receive each into the loop's provided buffers, without a read call per
    /// message, and their listeners accept through one multishot accept each (Linux 5.19 or later). Where the
    /// kernel lacks io_uring or forbids it (ENOSYS, EPERM, <c>kernel.io_uring_disabled</c>, a kernel older than 5.13),
    /// the loop logs one warning saying why and runs on <see cref="Epoll"/>; <see cref="EventLoop.Backend"/> tells which.
    /// </summary>
    IoUring = 2,
}
