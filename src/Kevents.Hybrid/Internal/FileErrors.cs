using System.ComponentModel;
using Kevents.Native;

namespace Kevents.Hybrid.Internal;

/// <summary>Turns a failed file syscall (-errno) into the exception .NET code expects, naming the path.</summary>
internal static class FileErrors
{
    public static Exception For(int negativeErrno, string what, string? path)
    {
        int errno = -negativeErrno;
        string target = path is null ? string.Empty : $" '{path}'";
        return errno switch
        {
            Errno.ENOENT => new FileNotFoundException($"Could not {what}{target}: no such file or directory.", path),
            // EPERM too: a seccomp or LSM refusal, or an operation the file's flags forbid, is "access denied" to the caller.
            Errno.EACCES or Errno.EPERM => new UnauthorizedAccessException(
                $"Access to{target} is denied ({Errno.Describe(errno)}) when trying to {what} it; check the file's permissions and the process's user."),
            Errno.ECANCELED => new OperationCanceledException($"The {what}{target} was cancelled."),
            _ => new IOException($"Could not {what}{target}: {Errno.Describe(errno)}.", new Win32Exception(errno)),
        };
    }

    /// <summary>The errno a kevent carries for a failed threadlet: the closest match for the exception.</summary>
    public static int ErrnoOf(Exception exception) => exception switch
    {
        FileNotFoundException or DirectoryNotFoundException => Errno.ENOENT,
        UnauthorizedAccessException => Errno.EACCES,
        OperationCanceledException => Errno.ECANCELED,
        ThreadletQueueFullException => Errno.EAGAIN,
        IOException { InnerException: Win32Exception win32 } => win32.NativeErrorCode,
        _ => Errno.EIO,
    };
}
