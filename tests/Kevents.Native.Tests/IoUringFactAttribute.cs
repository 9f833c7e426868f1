using Kevents.Native;

namespace Kevents.Native.Tests;

/// <summary>
/// A fact that needs a working io_uring. Where Create answers ENOSYS or EPERM (kernel without io_uring, seccomp,
/// io_uring_disabled, KEVENTS_IO_URING=0) the test is reported as skipped with the reason, never as passed.
/// Any other setup error lets the test run, so it fails and shows the error.
/// </summary>
public sealed class IoUringFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> s_unavailableReason = new(ProbeUnavailableReason);

    public IoUringFactAttribute()
    {
        if (s_unavailableReason.Value is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? ProbeUnavailableReason()
    {
        int rc = IoUringRing.Create(4, out IoUringRing? ring);
        ring?.Dispose();
        return rc is -Errno.ENOSYS or -Errno.EPERM
            ? $"io_uring is unavailable on this machine: Create returned -{Errno.Describe(rc)}"
            : null;
    }
}
