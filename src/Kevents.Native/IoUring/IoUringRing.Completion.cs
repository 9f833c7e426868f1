using Tmds.Linux;

namespace Kevents.Native;

// Completion side. The kernel writes entries and then advances the CQ tail (release); this side reads the tail with
// acquire, copies the entry out, and only then advances the head (release), handing the slot back to the kernel.
//
// Overflow: when the CQ is full the kernel either drops completions (counted in DroppedCompletions; kernels without
// IORING_FEAT_NODROP) or keeps them on an internal list and sets IORING_SQ_CQ_OVERFLOW. Kept completions move into
// the CQ only during io_uring_enter with GETEVENTS, so TryReap does that itself when it finds the CQ empty while the
// flag is set: draining with TryReap until it returns false loses nothing the kernel kept.
internal sealed unsafe partial class IoUringRing
{
    /// <summary>Completions waiting in the completion queue (not counting any the kernel holds back after an overflow).</summary>
    public int PendingCompletions => _disposed ? 0 : (int)(Volatile.Read(ref *_cqTail) - *_cqHead);

    /// <summary>True while the kernel holds completions the completion queue had no room for.</summary>
    public bool HasOverflow => !_disposed && (Volatile.Read(ref *_sqFlags) & IoUringAbi.SqCqOverflow) != 0;

    /// <summary>
    /// Completions the kernel had to discard because the queue was full and it could not keep them. Always 0 on kernels
    /// with <see cref="IoUringFeatures.NoDrop"/> unless the kernel ran out of memory; a non-zero value means operations
    /// whose completion will never arrive.
    /// </summary>
    public uint DroppedCompletions => _disposed ? 0 : Volatile.Read(ref *_cqOverflow);

    /// <summary>
    /// Takes the oldest completion. False when none is available (then <paramref name="completion"/> is default).
    /// When the queue is empty but the kernel holds overflowed completions, this moves them into the queue first.
    /// </summary>
    public bool TryReap(out IoUringCompletion completion)
    {
        if (_disposed)
        {
            completion = default;
            return false;
        }
        // Only this thread writes the head, so a plain read sees its own last store.
        uint head = *_cqHead;
        // Acquire: the entry's contents are visible once the tail that covers it is.
        uint tail = Volatile.Read(ref *_cqTail);
        if (head == tail)
        {
            if (!HasOverflow || FlushOverflow() < 0)
            {
                completion = default;
                return false;
            }
            tail = Volatile.Read(ref *_cqTail);
            if (head == tail)
            {
                completion = default;
                return false;
            }
        }
        // Safety: head is masked to the entry count, so the entry lies inside the mapped CQ, and head != tail proves the
        // kernel has finished writing it.
        io_uring_cqe* cqe = &_cqes[head & _cqMask];
        completion = new IoUringCompletion(cqe->user_data, cqe->res, cqe->flags);
        // Release: the copy above is complete before the kernel may reuse the slot.
        Volatile.Write(ref *_cqHead, head + 1);
        return true;
    }

    /// <summary>
    /// Asks the kernel to move completions it holds after an overflow into the completion queue, as far as there is
    /// room; never waits. Returns 0 or -errno (EINTR retried). <see cref="TryReap"/> calls it when needed, so a loop
    /// that drains with TryReap never has to.
    /// </summary>
    public int FlushOverflow()
    {
        if (_disposed)
        {
            return -Errno.EBADF;
        }
        return (int)Math.Min(Sys.Retry(new EnterCall(_ring.Fd, 0, LibC.IORING_ENTER_GETEVENTS)), 0);
    }
}
