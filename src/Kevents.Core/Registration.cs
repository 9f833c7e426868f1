namespace Kevents;

/// <summary>
/// One registration made by <see cref="EventLoop.Register(in Kevent, KeventHandler)"/>: its identity (Ident, Filter),
/// the loop that holds it, and <see cref="Delete"/> to remove it. A small value, so registering allocates nothing
/// for it; copies name the same registration.
/// </summary>
/// <remarks>
/// <see cref="Delete"/> removes this registration only: if it was already removed and the same identity was
/// registered again since (a descriptor number reused, a timer ident re-registered after Delete), the newer
/// registration stays. Re-registering the same identity while it is still registered modifies it, and this value
/// keeps naming it. Loop thread only, like <see cref="EventLoop.Unregister(ulong, KeventFilter)"/>.
/// </remarks>
public readonly struct Registration : IDisposable, IEquatable<Registration>
{
    private readonly int _epoch;

    internal Registration(EventLoop loop, ulong ident, KeventFilter filter, int epoch)
    {
        Loop = loop;
        Ident = ident;
        Filter = filter;
        _epoch = epoch;
    }

    /// <summary>The loop that holds the registration; null for a default value, which names no registration.</summary>
    public EventLoop? Loop { get; }

    /// <summary>The registered kevent's Ident.</summary>
    public ulong Ident { get; }

    /// <summary>The registered kevent's Filter.</summary>
    public KeventFilter Filter { get; }

    /// <summary>True while this registration is still in its loop (and not replaced by a newer one). Loop thread only.</summary>
    public bool IsRegistered
    {
        get
        {
            EventLoop loop = RequireLoop(nameof(IsRegistered));
            return _epoch != 0 && loop.IsRegistration(Ident, Filter, _epoch);
        }
    }

    /// <summary>
    /// Removes the registration: no handler runs for it after this returns, even for an event already in the batch
    /// being dispatched. Loop thread only. Deleting again, after a one-shot registration fired, or after the loop was
    /// disposed does nothing.
    /// </summary>
    /// <returns>True when this call removed it; false when it was already gone.</returns>
    /// <exception cref="InvalidOperationException">This is a default <see cref="Registration"/>, which no
    /// Register call returned; or the call is not on the loop thread while the loop runs.</exception>
    public bool Delete()
    {
        EventLoop loop = RequireLoop(nameof(Delete));
        // Epoch 0: the Register call carried KeventFlags.Delete, so it registered nothing. A disposed loop holds no
        // registrations any more, so a using block that outlives its loop ends quietly.
        return _epoch != 0 && !loop.IsDisposed && loop.UnregisterCore(Ident, Filter, _epoch, "Unregister (through Registration.Delete)");
    }

    /// <summary>Same as <see cref="Delete"/>, for <c>using</c>.</summary>
    public void Dispose() => Delete();

    /// <inheritdoc/>
    public bool Equals(Registration other) =>
        ReferenceEquals(Loop, other.Loop) && Ident == other.Ident && Filter == other.Filter && _epoch == other._epoch;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Registration other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Loop, Ident, Filter, _epoch);

    /// <summary>Equal when both name the same registration.</summary>
    public static bool operator ==(Registration left, Registration right) => left.Equals(right);

    /// <summary>Not equal when they name different registrations.</summary>
    public static bool operator !=(Registration left, Registration right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => Loop is null ? "Registration(none)" : $"Registration({Filter} {Ident} on '{Loop.Name}')";

    private EventLoop RequireLoop(string member) =>
        Loop ?? throw new InvalidOperationException(
            $"Registration.{member} was called on a default Registration, which names no registration. Use the value that EventLoop.Register returned.");
}
