using Kevents.Native;

namespace Kevents;

/// <summary>Builds the exceptions thrown at Kevents' public edge, each saying what happened and what to do.</summary>
internal static class ThrowHelper
{
    public static IOException NativeFailure(string what, int negativeErrno) =>
        new($"Kevents could not {what}: {Errno.Describe(negativeErrno)}.", new System.ComponentModel.Win32Exception(-negativeErrno));

    /// <summary>
    /// The exception for a registration the kernel refused: an <see cref="IOException"/> when it ran out of room
    /// (ENOSPC past fs.epoll.max_user_watches, ENOMEM), which says nothing about the caller's argument; otherwise
    /// the <see cref="BadDescriptor"/> argument error.
    /// </summary>
    public static Exception RegistrationRefused(int fd, KeventFilter filter, int negativeErrno) => -negativeErrno switch
    {
        Errno.ENOSPC => NativeFailure($"watch fd {fd} for {filter} (the per-user epoll watch limit, fs.epoll.max_user_watches, is reached; raise it or close connections)", negativeErrno),
        Errno.ENOMEM => NativeFailure($"watch fd {fd} for {filter} (the kernel is out of memory)", negativeErrno),
        _ => BadDescriptor(fd, filter, negativeErrno),
    };

    public static ArgumentException BadDescriptor(int fd, KeventFilter filter, int negativeErrno)
    {
        string hint = -negativeErrno switch
        {
            Errno.EBADF => " The descriptor is not open; was it closed already?",
            Errno.EPERM => " epoll cannot watch this kind of file (regular files and directories are always ready; read them through Kevents.File).",
            _ => string.Empty,
        };
        return new ArgumentException($"Cannot register fd {fd} for {filter}: {Errno.Describe(negativeErrno)}.{hint}", "kevent");
    }
}
