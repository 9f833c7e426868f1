using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// The libc calls Tmds.LibC 0.5.0 does not bind, declared once here. Every other file calls these through a
/// wrapper that makes the call through <see cref="Sys"/>, which reads errno and retries EINTR.
/// </summary>
internal static unsafe partial class Interop
{
    private const string Libc = "libc";

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint readv(int fd, iovec* iov, int iovcnt);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint writev(int fd, iovec* iov, int iovcnt);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint preadv2(int fd, iovec* iov, int iovcnt, long offset, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint pwritev2(int fd, iovec* iov, int iovcnt, long offset, int flags);

    // glibc 2.35+ (kernel 5.11+): epoll_wait with a nanosecond timeout.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int epoll_pwait2(int epfd, epoll_event* events, int maxevents, Timespec* timeout, void* sigmask);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int recvmmsg(int fd, mmsghdr* msgvec, uint vlen, int flags, void* timeout);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int sendmmsg(int fd, mmsghdr* msgvec, uint vlen, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial nint sendfile(int outFd, int inFd, long* offset, nuint count);

    // No SetLastError: the clock is read on every loop turn and cannot fail with a valid pointer.
    [LibraryImport(Libc)]
    internal static partial int clock_gettime(int clockId, Timespec* tp);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int getrlimit(int resource, Rlimit* rlim);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int setrlimit(int resource, Rlimit* rlim);

    // Variadic in C; every request used here passes one int*, which the x64 and arm64 Linux ABIs pass like a fixed argument.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int ioctl(int fd, nuint request, int* argument);

    // posix_fadvise returns the error number instead of setting errno.
    [LibraryImport(Libc)]
    internal static partial int posix_fadvise(int fd, long offset, long len, int advice);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int munmap(void* address, nuint length);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int mincore(void* address, nuint length, byte* vector);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int sched_getaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int sched_setaffinity(int pid, nuint cpusetsize, ulong* mask);

    [LibraryImport(Libc, SetLastError = true)]
    internal static partial int sched_getcpu();

    // Variadic in C; glibc's syscall() is assembly that moves its integer arguments into the kernel's registers, so the
    // x64 and arm64 Linux ABIs pass them like fixed arguments. Used where Tmds.LibC's binding lacks an argument.
    [LibraryImport(Libc, SetLastError = true)]
    internal static partial long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Rlimit
    {
        public ulong Current;
        public ulong Max;
    }
}
