using Kevents.Native;

namespace Kevents.File.Internal;

/// <summary>
/// The kevent form: the result becomes one <c>Kevent(Filter = Aio, Ident = id, Data = result or -errno, UserData)</c>
/// queued to the loop with <see cref="EventLoop.Complete(in Kevent)"/>, so it is dispatched in the loop's next batch
/// to the handler registered for it, the Aio filter handler, or <see cref="EventLoop.Poll"/>.
/// </summary>
internal sealed class KeventOperation(EventLoop loop, ulong userData, PendingKevents pending) : AioOperation
{
    public ulong UserData => userData;

    /// <summary>The id the caller sees (the kevent's Ident); separate from the engine's internal id.</summary>
    public ulong KeventId { get; set; }

    protected override void OnCompleted(int result, bool shuttingDown)
    {
        pending.Remove(KeventId);
        if (shuttingDown)
        {
            // The loop will not dispatch again; the kevent has nowhere to go, and a descriptor it carried is closed.
            if (Kind == AioKind.Open && result >= 0)
            {
                TakeOpenedFile(result).Dispose();
            }
            return;
        }
        KeventFlags flags = result < 0 ? KeventFlags.Error : KeventFlags.None;
        if (Kind == AioKind.Open && result >= 0 && OpenedFile is { } file)
        {
            // A threadlet open's descriptor is owned by a SafeHandle; the kevent hands the raw number to the caller.
            file.SetHandleAsInvalid();
            OpenedFile = null;
        }
        try
        {
            loop.Complete(new Kevent(KeventId, KeventFilter.Aio, flags, 0, result, userData));
        }
        catch (ObjectDisposedException)
        {
            // A threadlet result delivered off the loop while it was being disposed: nobody will see the kevent, so
            // a descriptor it carried is closed here rather than leaked.
            if (Kind == AioKind.Open && result >= 0)
            {
                new FileDescriptor(result).Dispose();
            }
        }
    }
}
