using System.Runtime.InteropServices;

namespace Kevents.Internal;

/// <summary>
/// A registration that is not a file descriptor: timer, user event, signal, or a completion claimed by ident.
/// Owned by the loop thread, except the fields marked as shared.
/// </summary>
internal sealed class KeyedRegistration
{
    public Kevent Kevent;
    public KeventHandler? Handler;
    public bool Enabled;
    public bool Live;
    /// <summary>Distinguishes this registration from an earlier one with the same identity.</summary>
    public int Epoch;

    // Timers.
    public LoopTimer Timer;
    public long DeadlineNs;
    public long PeriodNs;

    // User events and signals: set by other threads, reset by the loop when it delivers.
    public int Pending;
    public long Count;
    public bool DeferredWhileDisabled;
    public PosixSignalRegistration? SignalRegistration;

    public KeyedRegistration(in Kevent kevent, KeventHandler? handler)
    {
        Kevent = kevent;
        Handler = handler;
        Enabled = (kevent.Flags & KeventFlags.Disable) == 0;
        Live = true;
    }

    public bool IsOneshot => (Kevent.Flags & KeventFlags.Oneshot) != 0;

    public bool IsDispatch => (Kevent.Flags & KeventFlags.Dispatch) != 0;
}
