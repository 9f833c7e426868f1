using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// One io_uring instance with its submission queue, completion queue and entry array mapped into this process,
/// and an eventfd the kernel signals when completions are posted.
/// </summary>
/// <remarks>
/// <para>Threading: a ring has one owner thread (the event loop). Every member except <see cref="Create"/> must be
/// called from that thread; nothing here takes a lock.</para>
/// <para>Life cycle: prepare operations with the <c>Prepare*</c> methods, send them with <see cref="Submit"/>, and
/// collect results with <see cref="TryReap"/> when <see cref="CompletionEventFd"/> becomes readable. Every submitted
/// operation produces exactly one completion (the kinds prepared here are all one-shot).</para>
/// <para>Disposing unmaps the rings and closes the ring and its eventfd. The kernel cancels operations still in
/// flight, but their completions are never seen: the layer above must release their buffers and any descriptor an
/// in-flight open may still produce only after it has reaped them, or accept the leak (see issue 5).</para>
/// </remarks>
internal sealed unsafe partial class IoUringRing : IDisposable
{
    private readonly FileDescriptor _ring;
    private readonly FileDescriptor? _completionEvent;
    private readonly Mappings _maps;

    // Submission queue, shared with the kernel. The kernel advances the head when it consumes entries; this
    // process advances the tail. _sqTailLocal counts prepared entries and is published to the kernel by Submit.
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint* _sqFlags;
    private readonly uint* _sqArray;
    private readonly io_uring_sqe* _sqes;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private uint _sqTailLocal;

    // Completion queue, shared with the kernel. The kernel advances the tail as it posts; this process advances the head.
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint* _cqOverflow;
    private readonly io_uring_cqe* _cqes;
    private readonly uint _cqMask;
    private readonly uint _cqEntries;

    // One bit per opcode the kernel reported as supported; all clear when the kernel cannot be probed.
    private readonly ulong[] _supported;
    private bool _disposed;

    private IoUringRing(FileDescriptor ring, FileDescriptor? completionEvent, in io_uring_params p, Mappings maps, ulong[] supported)
    {
        _ring = ring;
        _completionEvent = completionEvent;
        _maps = maps;
        _supported = supported;
        Features = (IoUringFeatures)p.features;

        // Safety: every offset comes from the kernel's io_uring_params for this very mapping, and the mapping sizes were
        // computed from the same offsets and entry counts, so each pointer lies inside a live shared region until Dispose.
        byte* sq = maps.SqRing;
        _sqHead = (uint*)(sq + p.sq_off.head);
        _sqTail = (uint*)(sq + p.sq_off.tail);
        _sqFlags = (uint*)(sq + p.sq_off.flags);
        _sqArray = (uint*)(sq + p.sq_off.array);
        _sqMask = *(uint*)(sq + p.sq_off.ring_mask);
        _sqEntries = *(uint*)(sq + p.sq_off.ring_entries);
        _sqes = (io_uring_sqe*)maps.Sqes;
        _sqTailLocal = *_sqTail;

        byte* cq = maps.CqRing;
        _cqHead = (uint*)(cq + p.cq_off.head);
        _cqTail = (uint*)(cq + p.cq_off.tail);
        _cqOverflow = (uint*)(cq + p.cq_off.overflow);
        _cqes = (io_uring_cqe*)(cq + p.cq_off.cqes);
        _cqMask = *(uint*)(cq + p.cq_off.ring_mask);
        _cqEntries = *(uint*)(cq + p.cq_off.ring_entries);
    }

    /// <summary>What the kernel's io_uring promises (<c>IORING_FEAT_*</c>).</summary>
    public IoUringFeatures Features { get; }

    /// <summary>Submission queue entries (the kernel rounds the requested count up to a power of two).</summary>
    public uint SubmissionQueueSize => _sqEntries;

    /// <summary>Completion queue entries.</summary>
    public uint CompletionQueueSize => _cqEntries;

    /// <summary>The ring's descriptor, or -1 once disposed.</summary>
    public int RingFd => _ring.Fd;

    /// <summary>
    /// An eventfd (NONBLOCK, CLOEXEC) the kernel signals when it posts completions. Watch it for readability with
    /// epoll; when it fires, drain it with <see cref="EventFd.Drain"/> first and then call <see cref="TryReap"/> until it
    /// returns false. Draining first means a completion posted meanwhile signals the eventfd again, so none waits
    /// unnoticed. Signals may be coalesced or spurious: the completion queue, not the counter, is the truth. -1 for a
    /// ring created without one (<see cref="IoUringSetupOptions.CompletionEventFd"/>).
    /// </summary>
    public int CompletionEventFd => _completionEvent?.Fd ?? -1;

    /// <summary>
    /// True when the kernel reports <paramref name="opcode"/> (an <see cref="IoUringOpcode"/> value) as supported.
    /// Kernels older than 5.6 cannot be probed; there every opcode answers false, so the caller uses its fallback.
    /// </summary>
    public bool Supports(byte opcode) => (_supported[opcode >> 6] & (1UL << (opcode & 63))) != 0;

    /// <summary>
    /// Creates a ring with at least <paramref name="entries"/> submission entries (clamped by the kernel to its maximum).
    /// Returns 0 and the ring, or <c>-errno</c> and null; it never throws for a missing or forbidden io_uring:
    /// -ENOSYS (kernel without io_uring, or a seccomp filter that hides it), -EPERM (io_uring_disabled sysctl, a
    /// seccomp filter, <see cref="IoUringSetupOptions.DisableEnvironmentVariable"/> set to 0), -EINVAL (bad sizes),
    /// -ENOMEM or -EMFILE.
    /// </summary>
    public static int Create(uint entries, out IoUringRing? ring, IoUringSetupOptions? options = null)
    {
        ring = null;
        if (Environment.GetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable) == "0")
        {
            return -Errno.EPERM;
        }

        io_uring_params p = default;
        int rc = Setup(entries, options?.CompletionQueueSize ?? 0, options?.CooperativeTaskRun ?? false, ref p, out FileDescriptor? ringFd);
        if (rc < 0)
        {
            return rc;
        }

        rc = EnsureCloseOnExec(ringFd!.Fd);
        if (rc < 0)
        {
            ringFd.Dispose();
            return rc;
        }

        rc = Mappings.Map(ringFd.Fd, p, out Mappings maps);
        if (rc < 0)
        {
            ringFd.Dispose();
            return rc;
        }

        FileDescriptor? eventFd = null;
        if (options?.CompletionEventFd ?? true)
        {
            rc = EventFd.Create(out eventFd);
            if (rc == 0)
            {
                rc = RegisterEventFd(ringFd.Fd, eventFd!.Fd);
            }
        }
        if (rc < 0)
        {
            eventFd?.Dispose();
            maps.Unmap();
            ringFd.Dispose();
            return rc;
        }

        ring = new IoUringRing(ringFd, eventFd, p, maps, Probe(ringFd.Fd));
        return 0;
    }

    /// <summary>Unmaps the rings and closes the ring descriptor and its eventfd. Calling it again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _maps.Unmap();
        // The ring holds its own reference to the eventfd, so the order of these two closes does not matter to the kernel.
        _ring.Dispose();
        _completionEvent?.Dispose();
    }

    private static int Setup(uint entries, uint cqSize, bool cooperative, ref io_uring_params p, out FileDescriptor? ringFd)
    {
        if (FaultInjection.Fails(FaultSite.IoUringSetup, -1, out int fault))
        {
            p = default;
            ringFd = null;
            return -fault;
        }
        // CLAMP turns an oversized request into the kernel maximum instead of EINVAL. SUBMIT_ALL (5.18) keeps a batch
        // going past a failing entry, so one bad entry cannot strand the ones behind it; older kernels reject the unknown
        // flag with EINVAL, and setup is then retried without it.
        uint flags = LibC.IORING_SETUP_CLAMP | IoUringAbi.SetupSubmitAll;
        if (cqSize != 0)
        {
            flags |= LibC.IORING_SETUP_CQSIZE;
        }
        if (cooperative)
        {
            flags |= IoUringAbi.SetupCoopTaskRun | IoUringAbi.SetupTaskRunFlag;
        }

        while (true)
        {
            p = default;
            p.flags = flags;
            p.cq_entries = cqSize;
            // Safety: p is a local the kernel reads and fills during the call; nothing keeps the pointer afterwards.
            fixed (io_uring_params* pp = &p)
            {
                int fd = LibC.io_uring_setup(entries, pp);
                if (fd >= 0)
                {
                    ringFd = new FileDescriptor(fd);
                    return 0;
                }
            }
            int errno = Errno.Last();
            if (errno == Errno.EINVAL && (flags & (IoUringAbi.SetupCoopTaskRun | IoUringAbi.SetupTaskRunFlag)) != 0)
            {
                // Before 5.19: no cooperative task running; the ring works without it.
                flags &= ~(IoUringAbi.SetupCoopTaskRun | IoUringAbi.SetupTaskRunFlag);
                continue;
            }
            if (errno == Errno.EINVAL && (flags & IoUringAbi.SetupSubmitAll) != 0)
            {
                flags &= ~IoUringAbi.SetupSubmitAll;
                continue;
            }
            ringFd = null;
            return -errno;
        }
    }

    // Linux has created io_uring descriptors with O_CLOEXEC since the first release; this only guards the promise
    // every Kevents descriptor makes, in case a kernel ever differs.
    private static int EnsureCloseOnExec(int fd) =>
        Io.IsCloseOnExec(fd) ? 0 : Math.Min(0, Errno.Result(LibC.fcntl(fd, LibC.F_SETFD, LibC.FD_CLOEXEC)));

    private static int RegisterEventFd(int ringFd, int eventFd) =>
        // Safety: the kernel copies the int during the call.
        (int)Math.Min(Sys.Retry(new RegisterCall(ringFd, LibC.IORING_REGISTER_EVENTFD, &eventFd, 1)), 0);

    private readonly struct RegisterCall(int ringFd, uint opcode, void* argument, uint count) : ISyscall
    {
        public long Invoke(int length) => LibC.io_uring_register(ringFd, opcode, argument, count);
    }

    private static ulong[] Probe(int ringFd)
    {
        var supported = new ulong[IoUringAbi.ProbeOps / 64];
        int size = sizeof(io_uring_probe) + IoUringAbi.ProbeOps * sizeof(io_uring_probe_op);
        byte* buffer = stackalloc byte[size];
        new Span<byte>(buffer, size).Clear();
        // Safety: buffer holds a probe header followed by ProbeOps entries, exactly the count passed to the kernel.
        int rc = LibC.io_uring_register(ringFd, LibC.IORING_REGISTER_PROBE, buffer, IoUringAbi.ProbeOps);
        if (rc < 0)
        {
            // EINVAL before 5.6: the kernel cannot say, so nothing is claimed to be supported.
            return supported;
        }
        var probe = (io_uring_probe*)buffer;
        var ops = (io_uring_probe_op*)(buffer + sizeof(io_uring_probe));
        int count = Math.Min((int)probe->ops_len, IoUringAbi.ProbeOps);
        for (int i = 0; i < count; i++)
        {
            if ((ops[i].flags & LibC.IO_URING_OP_SUPPORTED) != 0)
            {
                byte op = ops[i].op;
                supported[op >> 6] |= 1UL << (op & 63);
            }
        }
        return supported;
    }
}
