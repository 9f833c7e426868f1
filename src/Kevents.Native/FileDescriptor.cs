using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// An owned file descriptor. Disposing it closes the descriptor exactly once, even when several threads race
/// to release it; the runtime's SafeHandle reference counting keeps it open while a native call uses it.
/// </summary>
/// <remarks>Kevents creates every descriptor with CLOEXEC and NONBLOCK, so a child process inherits none.</remarks>
public sealed class FileDescriptor : SafeHandle
{
    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public FileDescriptor(int fd) : base(new IntPtr(-1), ownsHandle: true) => SetHandle(new IntPtr(fd));

    private FileDescriptor() : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    /// <summary>The descriptor number, or -1 once closed.</summary>
    public int Fd => IsClosed ? -1 : (int)handle;

    /// <inheritdoc />
    public override bool IsInvalid => (int)handle < 0;

    /// <inheritdoc />
    protected override bool ReleaseHandle()
    {
        // close() is not retried on EINTR: on Linux the descriptor is released even when close reports EINTR,
        // and a retry could close a descriptor another thread has just been given.
        return LibC.close((int)handle) == 0;
    }

    /// <summary>Wraps a raw C result: a descriptor when it is not negative, otherwise <c>-errno</c> and null.</summary>
    internal static int FromResult(int rc, out FileDescriptor? fd)
    {
        if (rc < 0)
        {
            fd = null;
            return -Errno.Last();
        }
        fd = new FileDescriptor(rc);
        return 0;
    }

    /// <summary>
    /// Wraps the raw C result of a call that fills two descriptors (pipe2, socketpair): both when it succeeded,
    /// otherwise <c>-errno</c> and nulls.
    /// </summary>
    internal static unsafe int FromPair(int rc, int* fds, out FileDescriptor? first, out FileDescriptor? second)
    {
        if (rc < 0)
        {
            first = second = null;
            return -Errno.Last();
        }
        first = new FileDescriptor(fds[0]);
        second = new FileDescriptor(fds[1]);
        return 0;
    }

    /// <inheritdoc />
    public override string ToString() => $"fd {Fd}";
}
