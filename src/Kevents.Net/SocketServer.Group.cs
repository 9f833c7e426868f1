using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

// A server's part in a SocketServerGroup. With LoopDistribution.Acceptor one server listens (Handoff set) and passes
// each accepted descriptor to the adopter on the least-loaded loop, through that adopter's inbox.
//
// No descriptor is lost on the way: the inbox owns a descriptor from the moment it is queued. Either the adopter's
// loop takes it out and adopts it (a connection, or a refusal that closes it), or the inbox is closed first (the
// adopter stopped, or its loop was disposed: Kevents.Net closes its servers when the loop disposes its features, before
// it drops unrun posted work) and closes whatever it still holds. A descriptor offered to a closed inbox is closed by
// the offer itself.
public sealed partial class SocketServer
{
    private HandoffInbox? _inbox;

    /// <summary>Set on the group's acceptor: where each accepted descriptor goes instead of becoming a connection here.</summary>
    internal Action<int>? Handoff { get; set; }

    /// <summary>Live plus in-flight connections per loop, shared by a group's adopters and its acceptor; null elsewhere.</summary>
    internal LoopLoad? Load { get; set; }

    /// <summary>This server's slot in <see cref="Load"/>.</summary>
    internal int LoadIndex { get; set; }

    /// <summary>The adopter's inbox (created with the adopter, before any acceptor can see it).</summary>
    internal HandoffInbox Inbox => _inbox ??= new HandoffInbox(this);

    /// <summary>On the adopter's loop: serves <paramref name="fd"/> as if this server had accepted it, or closes it.</summary>
    private void Adopt(int fd)
    {
        long before = TotalAccepted;
        if (_stopped)
        {
            Io.Close(fd);
        }
        else
        {
            OnAccepted(fd);
        }
        if (TotalAccepted == before)
        {
            // Refused (limit, reserve) or closed at once: it never counted as live on this loop.
            Load?.Release(LoadIndex);
        }
    }

    /// <summary>Descriptors on their way to one adopter. Offer from any thread; the adopter's loop drains.</summary>
    internal sealed class HandoffInbox(SocketServer owner)
    {
        private readonly Queue<int> _queue = new();
        private readonly Action<object?> _drain = static s => ((HandoffInbox)s!).Drain();
        private bool _closed;
        private bool _drainPosted;

        /// <summary>Queues <paramref name="fd"/> for the adopter, or closes it when the adopter is gone.</summary>
        public void Offer(int fd)
        {
            bool post;
            lock (_queue)
            {
                if (_closed)
                {
                    post = false;
                    fd = ~fd;
                }
                else
                {
                    _queue.Enqueue(fd);
                    post = !_drainPosted;
                    _drainPosted = true;
                }
            }
            if (fd < 0)
            {
                Io.Close(~fd);
                owner.Load?.Release(owner.LoadIndex);
                return;
            }
            if (post)
            {
                try
                {
                    owner._loop.Post(_drain, this);
                }
                catch (ObjectDisposedException)
                {
                    Close();
                }
            }
        }

        private void Drain()
        {
            while (true)
            {
                int fd;
                lock (_queue)
                {
                    if (!_queue.TryDequeue(out fd))
                    {
                        _drainPosted = false;
                        return;
                    }
                }
                owner.Adopt(fd);
            }
        }

        /// <summary>Closes every descriptor still queued; later offers are closed at once.</summary>
        public void Close()
        {
            int[] left;
            lock (_queue)
            {
                _closed = true;
                left = [.. _queue];
                _queue.Clear();
            }
            foreach (int fd in left)
            {
                Io.Close(fd);
                owner.Load?.Release(owner.LoadIndex);
            }
        }
    }
}

/// <summary>The part a <see cref="SocketServer"/> plays.</summary>
internal enum GroupRole
{
    /// <summary>A server of its own (<c>loop.ListenTcp</c>).</summary>
    Alone,

    /// <summary>One of a group's SO_REUSEPORT listeners.</summary>
    ReusePort,

    /// <summary>The first of a group's SO_REUSEPORT listeners with the CPU-local program attached.</summary>
    ReusePortCpu,

    /// <summary>A group's single listener, handing connections over.</summary>
    Acceptor,

    /// <summary>A group's listener-less server on one loop, serving the connections the acceptor hands it.</summary>
    Adopter,
}
