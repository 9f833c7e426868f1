using Tmds.Linux;

namespace Kevents.Native;

/// <summary>Sending POSIX signals. Receiving them as kevents is <c>Kevent.Signal</c>'s job in Kevents.Core.</summary>
public static class ProcessSignals
{
    /// <summary>SIGHUP: terminal hang-up; servers often reload on it.</summary>
    public const int SIGHUP = 1;
    /// <summary>SIGINT: Ctrl+C.</summary>
    public const int SIGINT = 2;
    /// <summary>SIGTERM: polite termination request.</summary>
    public const int SIGTERM = 15;
    /// <summary>SIGUSR1: user-defined.</summary>
    public const int SIGUSR1 = 10;
    /// <summary>SIGUSR2: user-defined.</summary>
    public const int SIGUSR2 = 12;

    /// <summary>Sends <paramref name="signo"/> to process <paramref name="pid"/>. Returns 0 or -errno.</summary>
    public static int Send(int pid, int signo) => Errno.Result(LibC.kill(pid, signo));

    /// <summary>Sends <paramref name="signo"/> to this process. Returns 0 or -errno.</summary>
    public static int SendToSelf(int signo) => Send(Environment.ProcessId, signo);
}
