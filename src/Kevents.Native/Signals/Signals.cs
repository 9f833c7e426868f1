namespace Kevents;

/// <summary>
/// POSIX signal numbers on Linux, by name, for <c>Kevent.Signal(signo)</c>: <c>Kevent.Signal(Signals.SIGTERM)</c>
/// delivers SIGTERM to the loop as a kevent instead of killing the process.
/// </summary>
public static class Signals
{
    /// <summary>SIGHUP: terminal hang-up; servers often reload their configuration on it.</summary>
    public const int SIGHUP = 1;
    /// <summary>SIGINT: Ctrl+C.</summary>
    public const int SIGINT = 2;
    /// <summary>SIGQUIT: Ctrl+\.</summary>
    public const int SIGQUIT = 3;
    /// <summary>SIGUSR1: user-defined.</summary>
    public const int SIGUSR1 = 10;
    /// <summary>SIGUSR2: user-defined.</summary>
    public const int SIGUSR2 = 12;
    /// <summary>SIGTERM: polite termination request (what <c>kill</c>, systemd and container runtimes send first).</summary>
    public const int SIGTERM = 15;
    /// <summary>SIGCHLD: a child process stopped or exited.</summary>
    public const int SIGCHLD = 17;
    /// <summary>SIGWINCH: the terminal window changed size.</summary>
    public const int SIGWINCH = 28;
}
