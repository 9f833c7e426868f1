using Tmds.Linux;

namespace Kevents.Native;

/// <summary>Sending POSIX signals (numbers in <see cref="Signals"/>). Receiving them as kevents is <c>Kevent.Signal</c>'s job in Kevents.Core.</summary>
internal static class ProcessSignals
{
    /// <summary>Sends <paramref name="signo"/> to process <paramref name="pid"/>. Returns 0 or -errno.</summary>
    public static int Send(int pid, int signo) => Errno.Result(LibC.kill(pid, signo));

    /// <summary>Sends <paramref name="signo"/> to this process. Returns 0 or -errno.</summary>
    public static int SendToSelf(int signo) => Send(Environment.ProcessId, signo);
}
