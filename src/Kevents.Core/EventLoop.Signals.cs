using System.Runtime.InteropServices;
using Kevents.Internal;

namespace Kevents;

// Signals as kevents. The runtime owns the process's signal handlers; PosixSignalRegistration hands each arrival
// to a runtime thread, which counts it and queues a completion, so the handler itself runs on the loop.
public sealed partial class EventLoop
{
    private int RegisterSignal(in Kevent kevent, KeventHandler? handler)
    {
        // Checked here and not only in Kevent.Signal: a raw kevent's ident would otherwise be cast, and
        // ulong.MaxValue becomes -1, which PosixSignal reads as SIGHUP.
        if (kevent.Ident is 0 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(kevent), kevent.Ident,
                $"A Signal kevent's ident is a signal number, and signal numbers run from 1 to 64 (ident {kevent.Ident} is none). Use Kevent.Signal(signo).");
        }
        if (TryModifyKeyed(kevent, handler, out int epoch))
        {
            return epoch;
        }
        var reg = new KeyedRegistration(kevent, handler) { Epoch = NextEpoch() };
        int signo = (int)kevent.Ident;
        try
        {
            reg.SignalRegistration = PosixSignalRegistration.Create(ToPosixSignal(signo), context =>
            {
                // Suppress the default action (terminating the process for SIGINT/SIGTERM/SIGHUP): the loop decides.
                context.Cancel = true;
                OnSignal(reg);
            });
        }
        catch (Exception ex) when (ex is PlatformNotSupportedException or IOException or ArgumentOutOfRangeException)
        {
            throw new ArgumentException($"Cannot watch signal {signo}: {ex.Message}", nameof(kevent), ex);
        }
        _registrations.Add(new KeventKey(kevent.Ident, KeventFilter.Signal), reg);
        return reg.Epoch;
    }

    private void OnSignal(KeyedRegistration reg)
    {
        Interlocked.Increment(ref reg.Count);
        if (reg.Live && Interlocked.Exchange(ref reg.Pending, 1) == 0 && Volatile.Read(ref _state) != StateDisposed)
        {
            _completions.Enqueue(new Kevent(reg.Kevent.Ident, KeventFilter.Signal, KeventFlags.None, (uint)reg.Epoch));
            Wake();
        }
    }

    private static PosixSignal ToPosixSignal(int signo) => signo switch
    {
        1 => PosixSignal.SIGHUP,
        2 => PosixSignal.SIGINT,
        3 => PosixSignal.SIGQUIT,
        15 => PosixSignal.SIGTERM,
        17 => PosixSignal.SIGCHLD,
        18 => PosixSignal.SIGCONT,
        20 => PosixSignal.SIGTSTP,
        21 => PosixSignal.SIGTTIN,
        22 => PosixSignal.SIGTTOU,
        28 => PosixSignal.SIGWINCH,
        // Other numbers pass through raw, which the runtime accepts on Unix.
        _ => (PosixSignal)signo,
    };

    private void ReleaseSignals()
    {
        foreach (KeyedRegistration reg in _registrations.Values)
        {
            if (reg.SignalRegistration is not null)
            {
                reg.Live = false;
                reg.SignalRegistration.Dispose();
                reg.SignalRegistration = null;
            }
        }
    }
}
