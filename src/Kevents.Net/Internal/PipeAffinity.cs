namespace Kevents.Net.Internal;

/// <summary>
/// Lets a pipe connection's Input and Output skip their lock while only the loop thread has used them, and take it
/// for good once any other thread does, without a fence on the loop's side.
/// </summary>
/// <remarks>
/// An application may use its pipes from any thread, so every step of the reader and writer is a critical section.
/// Almost every application uses them only on the loop, where a lock is ten uncontended atomic operations per message.
/// Here the loop marks the section it is in with a plain (volatile) store and checks the state with a plain load; the
/// first other thread to arrive moves the state to Sharing, runs a process-wide memory barrier (which orders the
/// loop's store before its load from this thread's point of view, the costly half of Dekker's handshake done once),
/// waits for the loop to leave its section, and only then marks the state Shared. From Sharing on, every step on
/// every thread takes the lock. Sections never nest and never run application code, so the wait is short.
/// </remarks>
internal struct PipeAffinity
{
    private const int LoopOnly = 0;
    private const int Sharing = 1;
    private const int Shared = 2;

    private int _state;
    private volatile bool _loopInside;

    /// <summary>Whether another thread has used the pipes (tests).</summary>
    public bool IsShared => Volatile.Read(ref _state) != LoopOnly;

    /// <summary>Enters a section of <paramref name="gate"/>; returns whether it took the lock (pass it to <see cref="Exit"/>).</summary>
    public bool Enter(object gate, EventLoop loop)
    {
        if (Volatile.Read(ref _state) == LoopOnly && loop.IsOnLoopThread)
        {
            _loopInside = true;
            if (Volatile.Read(ref _state) == LoopOnly)
            {
                return false;
            }
            // Another thread began sharing as we came in: leave the mark and lock like everyone.
            _loopInside = false;
        }
        else if (Volatile.Read(ref _state) != Shared && !loop.IsOnLoopThread)
        {
            BecomeShared();
        }
        Monitor.Enter(gate);
        return true;
    }

    /// <summary>Leaves the section <see cref="Enter"/> began.</summary>
    public void Exit(object gate, bool locked)
    {
        if (locked)
        {
            Monitor.Exit(gate);
        }
        else
        {
            _loopInside = false;
        }
    }

    private void BecomeShared()
    {
        var spin = default(SpinWait);
        if (Interlocked.CompareExchange(ref _state, Sharing, LoopOnly) == LoopOnly)
        {
            // After the barrier the loop either sees Sharing before its next section or has its mark visible here.
            Interlocked.MemoryBarrierProcessWide();
            while (_loopInside)
            {
                spin.SpinOnce();
            }
            Volatile.Write(ref _state, Shared);
            return;
        }
        while (Volatile.Read(ref _state) != Shared)
        {
            spin.SpinOnce();
        }
    }
}
