namespace Kevents.Native;

/// <summary>The calls a <see cref="FaultPlan"/> can fail or shorten.</summary>
internal enum FaultSite
{
    /// <summary><see cref="Io.Read"/> and <see cref="Io.Readv"/>: read(2) and readv(2) on any descriptor.</summary>
    Read,

    /// <summary><see cref="Io.Write"/> and <see cref="Io.Writev"/>.</summary>
    Write,

    /// <summary><see cref="NativeSocket.Receive"/>: recv(2).</summary>
    Receive,

    /// <summary>Every stream send of <see cref="NativeSocket"/>: send(2) and sendmsg(2).</summary>
    Send,

    /// <summary><see cref="NativeSocket.Accept"/>: accept4(2) on a listener.</summary>
    Accept,

    /// <summary>epoll_wait(2) and epoll_pwait2(2): only EINTR makes sense here.</summary>
    EpollWait,

    /// <summary>
    /// <see cref="Epoll.Control"/>: epoll_ctl(2) on the watched descriptor (the plan's descriptor filter sees that one,
    /// not the epoll set), for refusals such as ENOSPC past fs.epoll.max_user_watches.
    /// </summary>
    EpollControl,

    /// <summary><see cref="NativeFile.Open"/> and <see cref="NativeFile.OpenBeneath"/>: openat2(2) that may block.</summary>
    FileOpen,

    /// <summary>The same opens with RESOLVE_CACHED, where EAGAIN means "not in the dentry cache".</summary>
    FileOpenCached,

    /// <summary><see cref="NativeFile.Read"/>: preadv2(2) that may block.</summary>
    FileRead,

    /// <summary>The same reads with RWF_NOWAIT, where EAGAIN means "not in the page cache".</summary>
    FileReadNoWait,

    /// <summary>
    /// <see cref="NativeFile.CachedPages"/>: mincore(2), whose injected EAGAIN means "these pages are not all in the
    /// page cache", so a test can send a body down the cold path without evicting anything.
    /// </summary>
    FileCacheProbe,

    /// <summary>io_uring_setup(2), when an <see cref="IoUringRing"/> is created.</summary>
    IoUringSetup,

    /// <summary>
    /// io_uring_enter(2) from <see cref="IoUringRing.Submit"/>: EBUSY (reap completions first) and EAGAIN leave the
    /// entries queued for the next submission, as the kernel's own answers do.
    /// </summary>
    IoUringSubmit,

    /// <summary>
    /// A descriptor accepted by a multishot accept in an io_uring ring (<see cref="IoUringRing.TakeAccepted"/>): the
    /// injected errno replaces it, and the descriptor the kernel accepted is closed, as if the accept had failed.
    /// </summary>
    RingAccept,
}
