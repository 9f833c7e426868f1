using System.Runtime.InteropServices;
using Kevents.Native;

namespace Kevents.Tests;

/// <summary>
/// Base of every loop test: creates loops, disposes them after the test, and checks that the process holds
/// exactly as many descriptors as before (the leak gate, TestUtil's LeakGate).
/// </summary>
public abstract class LoopTest : GatedTest
{
    static LoopTest()
    {
        // The runtime opens a pipe for its signal-handling thread the first time any signal is watched, and keeps
        // it for the life of the process. Open it before any baseline is taken so the gate sees only our fds.
        using (PosixSignalRegistration.Create(PosixSignal.SIGCONT, _ => { }))
        {
        }
    }
    private readonly List<IDisposable> _owned = new();

    /// <summary>The poller backend this suite's loops use; the io_uring suites (IoUringSuites.cs) override it.</summary>
    protected virtual LoopBackend Backend => LoopBackend.Epoll;

    /// <summary>Options with this suite's <see cref="Backend"/> (unless the test chose one).</summary>
    protected EventLoopOptions WithBackend(EventLoopOptions? options = null)
    {
        options ??= new EventLoopOptions();
        if (options.Backend == LoopBackend.Default)
        {
            options.Backend = Backend;
        }
        return options;
    }

    protected EventLoop NewLoop(EventLoopOptions? options = null)
    {
        var loop = new EventLoop(WithBackend(options));
        _owned.Add(loop);
        return loop;
    }

    protected T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>Runs <paramref name="loop"/> on this thread until a handler stops it; fails if that takes longer than <paramref name="limit"/>.</summary>
    protected static void RunWithLimit(EventLoop loop, TimeSpan? limit = null)
    {
        bool expired = false;
        Registration guard = loop.Register(Kevent.Timer(loop.AllocateIdent(), limit ?? TimeSpan.FromSeconds(10)), (in Kevent _) =>
        {
            expired = true;
            loop.Stop();
        });
        loop.Run();
        guard.Delete();
        Assert.False(expired, $"The loop did not stop within {limit ?? TimeSpan.FromSeconds(10)}.");
    }

    /// <summary>Runs the loop for a fixed time, then stops it (for "nothing happens" assertions).</summary>
    protected static void RunFor(EventLoop loop, TimeSpan duration)
    {
        Registration stop = loop.Register(Kevent.Timer(loop.AllocateIdent(), duration), (in Kevent _) => loop.Stop());
        loop.Run();
        stop.Delete();
    }

    protected static void WriteByte(FileDescriptor fd, byte value = 1) => Assert.Equal(1, Io.Write(fd.Fd, [value]));

    public override void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
        base.Dispose();
    }
}
