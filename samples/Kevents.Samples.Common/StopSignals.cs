using System.Runtime.InteropServices;

namespace Kevents.Samples;

/// <summary>
/// The samples' one way to stop on SIGINT (Ctrl+C) and SIGTERM (what service managers, container runtimes and
/// <c>kill</c> send): a graceful stop that finishes or cuts what is in flight and prints the summary, instead of the
/// default action, which ends the process at once.
/// </summary>
public static class StopSignals
{
    /// <summary>
    /// Registers SIGINT and SIGTERM as kevents on <paramref name="loop"/>: <paramref name="stop"/> runs on the loop
    /// thread, like every other handler, and gets the signal's name. It runs again for each later signal, so it must
    /// tolerate being called while a stop is under way.
    /// </summary>
    public static void Register(EventLoop loop, Action<string> stop)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(stop);
        KeventHandler handler = (in Kevent ev) => stop(Name((int)ev.Ident));
        loop.Register(Kevent.Signal(Signals.SIGINT), handler);
        loop.Register(Kevent.Signal(Signals.SIGTERM), handler);
    }

    /// <summary>
    /// For a program without a loop of its own to stop: the first SIGINT or SIGTERM cancels <paramref name="cancel"/>
    /// (the program winds down and still reports); a second one takes the default action and ends the process.
    /// Dispose the result to restore the default action.
    /// </summary>
    public static IDisposable CancelOnSignal(CancellationTokenSource cancel)
    {
        ArgumentNullException.ThrowIfNull(cancel);
        return new Registrations(
            PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Cancel(c, cancel)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Cancel(c, cancel)));
    }

    /// <summary>The name of the signals this class handles ("SIGINT", "SIGTERM"), or "signal N" for any other.</summary>
    public static string Name(int signo) => signo switch
    {
        Signals.SIGINT => "SIGINT",
        Signals.SIGTERM => "SIGTERM",
        _ => $"signal {signo}",
    };

    private static void Cancel(PosixSignalContext context, CancellationTokenSource cancel)
    {
        if (!cancel.IsCancellationRequested)
        {
            context.Cancel = true;
            cancel.Cancel();
        }
    }

    private sealed class Registrations(params PosixSignalRegistration[] registrations) : IDisposable
    {
        public void Dispose()
        {
            foreach (PosixSignalRegistration registration in registrations)
            {
                registration.Dispose();
            }
        }
    }
}
