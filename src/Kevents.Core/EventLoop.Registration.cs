using System.Runtime.CompilerServices;
using Kevents.Internal;
using Kevents.Native;

namespace Kevents;

// Registering, modifying and removing kevents. Identity is (Ident, Filter): registering an identity that exists
// modifies it, as kevent(2) does with EV_ADD.
public sealed partial class EventLoop
{
    private const KeventFlags RequestFlags = KeventFlags.Oneshot | KeventFlags.Clear | KeventFlags.Dispatch;

    private FdEntry[] _fds = new FdEntry[64];
    private readonly Dictionary<KeventKey, KeyedRegistration> _registrations = new();
    private readonly KeventHandler?[] _filterHandlers = new KeventHandler?[KeventFilters.Count];
    private int _epochSeed;
    private long _lastAllocatedIdent;

    /// <summary>
    /// Registers <paramref name="kevent"/> and the handler that receives it, or modifies the registration with the
    /// same (Ident, Filter). Loop thread only (or before the loop runs).
    /// </summary>
    /// <remarks>
    /// Read and Write: Ident is a file descriptor the caller keeps open while registered (unregister before closing
    /// it). Flags: <see cref="KeventFlags.Oneshot"/>, <see cref="KeventFlags.Clear"/> (edge) and
    /// <see cref="KeventFlags.Dispatch"/> mean the same on every filter; <see cref="KeventFlags.Disable"/> registers
    /// without delivering; <see cref="KeventFlags.Delete"/> unregisters. Epoll keeps one mode per descriptor, so a
    /// descriptor whose Read and Write filters disagree about <see cref="KeventFlags.Clear"/> is watched
    /// level-triggered (extra deliveries are spurious events, which handlers tolerate anyway).
    /// </remarks>
    /// <exception cref="ArgumentException">The descriptor is invalid, closed, or cannot be polled (the message names
    /// the fd and the errno); or a Signal kevent's ident is not a signal number from 1 to 64.</exception>
    /// <exception cref="IOException">The kernel has no room for another watch (ENOSPC past fs.epoll.max_user_watches,
    /// or ENOMEM).</exception>
    /// <returns>The registration: its identity and a <see cref="Registration.Delete"/> that removes it (and not a
    /// later registration of the same identity). Callers may ignore it and use <see cref="Unregister(ulong, KeventFilter)"/>.</returns>
    public Registration Register(in Kevent kevent, KeventHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return new Registration(this, kevent.Ident, kevent.Filter, RegisterCore(kevent, handler));
    }

    /// <summary>
    /// Registers <paramref name="kevent"/> for the pull API: its deliveries are returned by <see cref="Poll"/>
    /// instead of going to a handler. Loop thread only.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called while the loop dispatches with <see cref="Run"/>, which
    /// collects nothing for <see cref="Poll"/>: pass a handler instead. A pull registration made before
    /// <see cref="Run"/> starts is reported (a warning, at most once a second) when its events arrive.</exception>
    /// <returns>The registration; see <see cref="Register(in Kevent, KeventHandler)"/>.</returns>
    public Registration Register(in Kevent kevent)
    {
        if (_inRun)
        {
            throw new InvalidOperationException(
                $"Register({kevent}) without a handler registers it for Poll, but loop '{Name}' is dispatching with Run(), where its events would be lost. Pass a handler: loop.Register(kevent, handler).");
        }
        return new Registration(this, kevent.Ident, kevent.Filter, RegisterCore(kevent, handler: null));
    }

    /// <summary>
    /// Removes the registration (<paramref name="ident"/>, <paramref name="filter"/>). No handler runs for it after
    /// this returns, even if its event is already in the batch being dispatched. Loop thread only.
    /// </summary>
    /// <remarks>For a descriptor, call it before closing the descriptor. For a signal, the signal's default action
    /// (terminating the process, for SIGTERM and SIGINT) is back once this returns.</remarks>
    /// <returns>False when nothing was registered under that identity.</returns>
    public bool Unregister(ulong ident, KeventFilter filter) => UnregisterCore(ident, filter, epoch: 0, nameof(Unregister));

    /// <summary>
    /// Removes (<paramref name="ident"/>, <paramref name="filter"/>) if it is registered, and, when
    /// <paramref name="epoch"/> is not 0, only if it is still the registration that epoch names.
    /// </summary>
    internal bool UnregisterCore(ulong ident, KeventFilter filter, int epoch, string member)
    {
        VerifyAccess(member);
        if (IsFdFilter(filter))
        {
            ref FdSlot slot = ref FindFdSlot(ident, filter, out int fd);
            if (Unsafe.IsNullRef(ref slot) || (epoch != 0 && slot.Epoch != epoch))
            {
                return false;
            }
            slot = default;
            UpdateInterest(fd, ref _fds[fd]);
            return true;
        }
        var key = new KeventKey(ident, filter);
        if (!_registrations.TryGetValue(key, out KeyedRegistration? reg) || (epoch != 0 && reg.Epoch != epoch))
        {
            return false;
        }
        _registrations.Remove(key);
        Retire(reg);
        return true;
    }

    /// <summary>Removes the registration that <paramref name="kevent"/> names (its Ident and Filter).</summary>
    public bool Unregister(in Kevent kevent) => Unregister(kevent.Ident, kevent.Filter);

    /// <summary>Resumes delivery for a disabled registration. Loop thread only.</summary>
    /// <returns>False when nothing was registered under that identity.</returns>
    public bool Enable(ulong ident, KeventFilter filter) => SetEnabled(ident, filter, enabled: true, nameof(Enable));

    /// <summary>Stops delivery for a registration without removing it. Loop thread only.</summary>
    /// <returns>False when nothing was registered under that identity.</returns>
    public bool Disable(ulong ident, KeventFilter filter) => SetEnabled(ident, filter, enabled: false, nameof(Disable));

    /// <summary>
    /// Sets the handler for every kevent of <paramref name="filter"/> that arrives without a registration of its
    /// own, such as completions posted with <see cref="Complete(in Kevent)"/>; null removes it. Loop thread only.
    /// </summary>
    public void SetFilterHandler(KeventFilter filter, KeventHandler? handler)
    {
        VerifyAccess(nameof(SetFilterHandler));
        if (IsFdFilter(filter) || filter == KeventFilter.None)
        {
            throw new ArgumentException($"Kevents of filter {filter} always belong to a registration; register the descriptor instead.", nameof(filter));
        }
        _filterHandlers[(int)filter] = handler;
    }

    /// <summary>True when (<paramref name="ident"/>, <paramref name="filter"/>) is registered. Loop thread only.</summary>
    public bool IsRegistered(ulong ident, KeventFilter filter)
    {
        VerifyAccess(nameof(IsRegistered));
        if (IsFdFilter(filter))
        {
            return !Unsafe.IsNullRef(ref FindFdSlot(ident, filter, out _));
        }
        return _registrations.ContainsKey(new KeventKey(ident, filter));
    }

    /// <summary>
    /// The first ident <see cref="AllocateIdent"/> hands out (2^63). Idents below it are the application's to
    /// choose; idents from it upward belong to the loop's allocator, so the two never collide.
    /// </summary>
    public const ulong FirstAllocatedIdent = 1UL << 63;

    /// <summary>
    /// Hands out an ident no other <see cref="AllocateIdent"/> call on this loop has returned, for User and Timer
    /// kevents (and the loop's own Aio and Threadlet submissions): from <see cref="FirstAllocatedIdent"/> upward, so
    /// it never collides with idents an application picks below that. Any thread; allocates nothing.
    /// </summary>
    /// <remarks>Idents are not reused (there are 2^63 of them). Read, Write and Signal kevents name a descriptor or a
    /// signal number instead, so an allocated ident means nothing to them.</remarks>
    public ulong AllocateIdent() => FirstAllocatedIdent + (ulong)Interlocked.Increment(ref _lastAllocatedIdent);

    /// <summary>True when (ident, filter) is registered and, when epoch is not 0, is the registration with that epoch.</summary>
    internal bool IsRegistration(ulong ident, KeventFilter filter, int epoch)
    {
        VerifyAccess(nameof(Registration.IsRegistered));
        if (IsFdFilter(filter))
        {
            ref FdSlot slot = ref FindFdSlot(ident, filter, out _);
            return !Unsafe.IsNullRef(ref slot) && (epoch == 0 || slot.Epoch == epoch);
        }
        return _registrations.TryGetValue(new KeventKey(ident, filter), out KeyedRegistration? reg) && (epoch == 0 || reg.Epoch == epoch);
    }

    private static bool IsFdFilter(KeventFilter filter) => filter is KeventFilter.Read or KeventFilter.Write;

    /// <summary>The registered Read or Write slot for a descriptor, or a null ref when there is none.</summary>
    private ref FdSlot FindFdSlot(ulong ident, KeventFilter filter, out int fd)
    {
        fd = (int)ident;
        if (ident >= (ulong)_fds.Length)
        {
            return ref Unsafe.NullRef<FdSlot>();
        }
        ref FdEntry entry = ref _fds[fd];
        ref FdSlot slot = ref filter == KeventFilter.Read ? ref entry.Read : ref entry.Write;
        return ref slot.Registered ? ref slot : ref Unsafe.NullRef<FdSlot>();
    }

    /// <summary>Updates a keyed registration that already exists under the identity; false when there is none.</summary>
    private bool TryModifyKeyed(in Kevent kevent, KeventHandler? handler, out int epoch)
    {
        if (!_registrations.TryGetValue(new KeventKey(kevent.Ident, kevent.Filter), out KeyedRegistration? existing))
        {
            epoch = 0;
            return false;
        }
        existing.Kevent = kevent;
        existing.Handler = handler;
        ApplyEnableFlags(existing, kevent.Flags);
        epoch = existing.Epoch;
        return true;
    }

    /// <summary>Registers or modifies; returns the registration's epoch (0 when the kevent asked for a delete).</summary>
    private int RegisterCore(in Kevent kevent, KeventHandler? handler)
    {
        VerifyAccess(nameof(Register));
        if ((kevent.Flags & KeventFlags.Delete) != 0)
        {
            Unregister(kevent.Ident, kevent.Filter);
            return 0;
        }
        return kevent.Filter switch
        {
            KeventFilter.Read or KeventFilter.Write => RegisterFd(kevent, handler),
            KeventFilter.Timer => RegisterTimer(kevent, handler),
            KeventFilter.Signal => RegisterSignal(kevent, handler),
            KeventFilter.User or KeventFilter.Aio or KeventFilter.Threadlet => RegisterKeyed(kevent, handler),
            _ => throw new ArgumentException($"Cannot register a kevent with filter {kevent.Filter}.", nameof(kevent)),
        };
    }

    private int RegisterFd(in Kevent kevent, KeventHandler? handler)
    {
        if (kevent.Ident > int.MaxValue)
        {
            throw new ArgumentException($"Ident {kevent.Ident} is not a file descriptor.", nameof(kevent));
        }
        int fd = (int)kevent.Ident;
        if (fd >= _fds.Length)
        {
            // The table is sized by descriptor numbers, so only a number the process really holds may size it: a
            // bogus one (a million, int.MaxValue) would otherwise cost gigabytes or overflow before epoll said EBADF.
            int open = Io.CheckOpen(fd);
            if (open < 0)
            {
                throw ThrowHelper.BadDescriptor(fd, kevent.Filter, open);
            }
            Array.Resize(ref _fds, (int)Math.Min(Array.MaxLength, Math.Max(fd + 1L, _fds.Length * 2L)));
        }
        ref FdEntry entry = ref _fds[fd];
        ref FdSlot slot = ref kevent.Filter == KeventFilter.Read ? ref entry.Read : ref entry.Write;
        FdSlot previous = slot;
        slot.Handler = handler;
        slot.UserData = kevent.UserData;
        slot.Flags = kevent.Flags & RequestFlags;
        slot.FilterFlags = kevent.FilterFlags;
        if (!slot.Registered)
        {
            slot.Epoch = NextEpoch();
            slot.Registered = true;
            slot.Enabled = true;
        }
        if ((kevent.Flags & KeventFlags.Disable) != 0)
        {
            slot.Enabled = false;
        }
        else if ((kevent.Flags & KeventFlags.Enable) != 0)
        {
            slot.Enabled = true;
        }
        // Always ask epoll, even when the loop believes it already watches this interest: the descriptor may have
        // been closed without Unregister and its number reused, and only epoll_ctl notices (ENOENT) and re-adds it.
        int rc = UpdateInterest(fd, ref entry, force: true);
        if (rc < 0)
        {
            slot = previous;
            UpdateInterest(fd, ref entry);
            throw ThrowHelper.RegistrationRefused(fd, kevent.Filter, rc);
        }
        return slot.Epoch;
    }

    private int NextEpoch()
    {
        int epoch = ++_epochSeed;
        if (epoch == 0)
        {
            // Epoch 0 marks "no registration" in the batch; skip it when the counter wraps.
            epoch = ++_epochSeed;
        }
        return epoch;
    }

    /// <summary>
    /// Brings epoll's interest for <paramref name="fd"/> in line with its active filters. Returns 0 or -errno. With
    /// <paramref name="force"/> it calls epoll_ctl even when the interest it recorded has not changed.
    /// </summary>
    private int UpdateInterest(int fd, ref FdEntry entry, bool force = false)
    {
        EpollFlags desired = EpollFlags.None;
        bool allClear = true;
        if (entry.Read.Active)
        {
            desired |= EpollFlags.In | EpollFlags.RdHup;
            allClear &= entry.Read.IsClear;
        }
        if (entry.Write.Active)
        {
            desired |= EpollFlags.Out;
            allClear &= entry.Write.IsClear;
        }
        if (desired != EpollFlags.None && allClear)
        {
            desired |= EpollFlags.EdgeTriggered;
        }
        if (_uring is not null)
        {
            return UpdatePoll(fd, ref entry, desired, force);
        }

        if (desired == EpollFlags.None)
        {
            if (entry.InEpoll)
            {
                // A descriptor nobody listens to leaves the set: epoll would otherwise keep reporting HUP/ERR for it.
                // EBADF/ENOENT mean the caller closed it first, which already removed it.
                Epoll.Control(_epoll!.Fd, Epoll.Delete, fd, EpollFlags.None, 0);
                entry.InEpoll = false;
            }
            entry.Interest = EpollFlags.None;
            return 0;
        }

        int rc;
        if (!entry.InEpoll)
        {
            rc = Epoll.Control(_epoll!.Fd, Epoll.Add, fd, desired, (ulong)fd);
            if (rc == -Errno.EEXIST)
            {
                rc = Epoll.Control(_epoll!.Fd, Epoll.Modify, fd, desired, (ulong)fd);
            }
        }
        else if (desired != entry.Interest || force)
        {
            rc = Epoll.Control(_epoll!.Fd, Epoll.Modify, fd, desired, (ulong)fd);
            if (rc == -Errno.ENOENT)
            {
                // The descriptor was closed and its number reused without an Unregister in between.
                rc = Epoll.Control(_epoll!.Fd, Epoll.Add, fd, desired, (ulong)fd);
            }
        }
        else
        {
            rc = 0;
        }
        if (rc < 0)
        {
            return rc;
        }
        entry.InEpoll = true;
        entry.Interest = desired;
        return 0;
    }

    private bool SetEnabled(ulong ident, KeventFilter filter, bool enabled, string member)
    {
        VerifyAccess(member);
        if (IsFdFilter(filter))
        {
            ref FdSlot slot = ref FindFdSlot(ident, filter, out int fd);
            if (Unsafe.IsNullRef(ref slot))
            {
                return false;
            }
            if (slot.Enabled != enabled)
            {
                slot.Enabled = enabled;
                int rc = UpdateInterest(fd, ref _fds[fd]);
                if (rc < 0)
                {
                    slot.Enabled = !enabled;
                    throw ThrowHelper.RegistrationRefused(fd, filter, rc);
                }
            }
            return true;
        }
        if (!_registrations.TryGetValue(new KeventKey(ident, filter), out KeyedRegistration? reg))
        {
            return false;
        }
        if (reg.Enabled == enabled)
        {
            return true;
        }
        reg.Enabled = enabled;
        if (filter == KeventFilter.Timer)
        {
            if (enabled)
            {
                ArmTimer(reg, reg.Kevent.Data);
            }
            else
            {
                DisarmTimer(reg);
            }
        }
        else if (enabled && reg.DeferredWhileDisabled)
        {
            // A trigger or signal arrived while disabled: deliver it now that someone listens again.
            reg.DeferredWhileDisabled = false;
            _completions.Enqueue(new Kevent(ident, filter, KeventFlags.None, (uint)reg.Epoch));
        }
        return true;
    }

    /// <summary>User events and claimed completions: a keyed registration with no kernel object behind it.</summary>
    private int RegisterKeyed(in Kevent kevent, KeventHandler? handler)
    {
        if (TryModifyKeyed(kevent, handler, out int epoch))
        {
            return epoch;
        }
        var reg = new KeyedRegistration(kevent, handler) { Epoch = NextEpoch() };
        _registrations.Add(new KeventKey(kevent.Ident, kevent.Filter), reg);
        if (kevent.Filter == KeventFilter.User)
        {
            _userEvents[kevent.Ident] = reg;
        }
        return reg.Epoch;
    }

    private static void ApplyEnableFlags(KeyedRegistration reg, KeventFlags flags)
    {
        if ((flags & KeventFlags.Disable) != 0)
        {
            reg.Enabled = false;
        }
        else if ((flags & KeventFlags.Enable) != 0)
        {
            reg.Enabled = true;
        }
    }

    /// <summary>Releases whatever a removed keyed registration holds.</summary>
    private void Retire(KeyedRegistration reg)
    {
        reg.Live = false;
        switch (reg.Kevent.Filter)
        {
            case KeventFilter.Timer:
                DisarmTimer(reg);
                break;
            case KeventFilter.User:
                _userEvents.TryRemove(new KeyValuePair<ulong, KeyedRegistration>(reg.Kevent.Ident, reg));
                break;
            case KeventFilter.Signal:
                reg.SignalRegistration?.Dispose();
                reg.SignalRegistration = null;
                break;
        }
    }

    private void DispatchKeyed(in Kevent kevent, Span<Kevent> output, ref int written)
    {
        if (!_registrations.TryGetValue(new KeventKey(kevent.Ident, kevent.Filter), out KeyedRegistration? reg))
        {
            // Completions need no registration: a filter-wide handler or the pull API takes them.
            if (kevent.Filter is KeventFilter.Aio or KeventFilter.Threadlet)
            {
                Deliver(kevent, _filterHandlers[(int)kevent.Filter], output, ref written);
            }
            return;
        }

        Kevent delivered;
        switch (kevent.Filter)
        {
            case KeventFilter.User:
            case KeventFilter.Signal:
                // Triggers and signals carry the epoch of the registration they were raised for.
                if ((uint)reg.Epoch != kevent.FilterFlags)
                {
                    return;
                }
                if (!reg.Enabled)
                {
                    reg.DeferredWhileDisabled = true;
                    return;
                }
                Volatile.Write(ref reg.Pending, 0);
                long count = kevent.Filter == KeventFilter.Signal ? Interlocked.Exchange(ref reg.Count, 0) : 0;
                delivered = new Kevent(kevent.Ident, kevent.Filter, reg.Kevent.Flags & RequestFlags, reg.Kevent.FilterFlags, count, reg.Kevent.UserData);
                break;
            default:
                if (!reg.Enabled)
                {
                    return;
                }
                delivered = kevent;
                break;
        }

        KeventHandler? handler = reg.Handler;
        if (reg.IsOneshot)
        {
            _registrations.Remove(new KeventKey(kevent.Ident, kevent.Filter));
            Retire(reg);
        }
        else if (reg.IsDispatch)
        {
            reg.Enabled = false;
        }
        Deliver(delivered, handler, output, ref written);
    }
}
