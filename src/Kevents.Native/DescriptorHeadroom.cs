using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// Whether the process can still open descriptors. Starting a thread needs a few (the .NET runtime reads files under
/// /proc and /sys and makes a pipe as a thread starts, and aborts the process when those fail with EMFILE), so code
/// that starts threads asks this first instead of starting one at the descriptor limit.
/// </summary>
internal static class DescriptorHeadroom
{
    /// <summary>The largest <c>count</c> <see cref="Available"/> probes.</summary>
    public const int MaxProbe = 64;

    // fcntl's "duplicate to the lowest free number, close-on-exec" (Tmds.Linux does not name it).
    private const int FDupfdCloexec = 1030;

    /// <summary>
    /// True when <paramref name="count"/> (1 to <see cref="MaxProbe"/>) more descriptors can be opened right now. It
    /// opens that many and closes them again: exact whatever holes the descriptor table has, and a few microseconds,
    /// where counting /proc/self/fd would take milliseconds at a high limit (and a descriptor of its own).
    /// </summary>
    public static bool Available(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxProbe);
        Span<int> fds = stackalloc int[count];
        int first = LibC.eventfd(0, LibC.EFD_CLOEXEC);
        if (first < 0)
        {
            return false; // EMFILE or ENFILE: none to spare (ENOMEM: a thread would not start either)
        }
        fds[0] = first;
        int opened = 1;
        while (opened < count)
        {
            int fd = LibC.fcntl(first, FDupfdCloexec, 0);
            if (fd < 0)
            {
                break;
            }
            fds[opened++] = fd;
        }
        for (int i = 0; i < opened; i++)
        {
            LibC.close(fds[i]);
        }
        return opened == count;
    }
}
