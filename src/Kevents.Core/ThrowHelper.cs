using Kevents.Native;

namespace Kevents;

/// <summary>Builds the exceptions thrown at Kevents' public edge, each saying what happened and what to do.</summary>
internal static class ThrowHelper
{
    public static IOException NativeFailure(string what, int negativeErrno) =>
        new($"Kevents could not {what}: {Errno.Describe(negativeErrno)}.", new System.ComponentModel.Win32Exception(-negativeErrno));

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
