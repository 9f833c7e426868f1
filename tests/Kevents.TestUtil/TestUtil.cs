using System.Net;
using System.Net.Sockets;
using System.Text;
using Kevents.Native;

namespace Kevents.Tests;

/// <summary>
/// Helpers every Kevents test project shares: loopback endpoints, descriptor pairs, readiness waits that
/// tolerate spurious wakeups, and the process fd count behind the "leave it as you found it" gate.
/// </summary>
/// <remarks>
/// The fd count is process-wide, so a test assembly that checks it must run its tests one at a time
/// (<c>[assembly: CollectionBehavior(DisableTestParallelization = true)]</c>).
/// </remarks>
public static class TestUtil
{
    /// <summary>How long a readiness wait or fd-count settle may take before the test fails.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The folder holding Kevents.sln, found by walking up from the test assembly.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kevents.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"No Kevents.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>127.0.0.1 port 0: the kernel picks a free port at bind time.</summary>
    public static IPEndPoint AnyLoopback() => new(IPAddress.Loopback, 0);

    /// <summary>[::1] port 0. Check <see cref="HasIPv6Loopback"/> first.</summary>
    public static IPEndPoint AnyLoopbackV6() => new(IPAddress.IPv6Loopback, 0);

    /// <summary>True when a TCP socket can really be bound to [::1]:0 on this machine (containers often lack IPv6).</summary>
    public static bool HasIPv6Loopback()
    {
        if (NativeSocket.Create(AddressFamily.InterNetworkV6, SocketType.Stream, out FileDescriptor? socket) < 0)
        {
            return false;
        }
        using (socket)
        {
            return NativeSocket.Bind(socket!.Fd, AnyLoopbackV6()) == 0;
        }
    }

    private static bool IsRuntimeOwned(string target) =>
        target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".pdb", StringComparison.Ordinal) || target == "/dev/urandom";

    /// <summary>
    /// Descriptors this process holds open, from /proc/self/fd, less kinds that are not leaks: the runtime's
    /// handles on loaded assembly and symbol files (it keeps each .dll, and each .pdb read for a stack trace, open
    /// for the life of the process, and a test may be the first to load one), /dev/urandom (opened lazily by the
    /// runtime for random seeds and kept), and the directory handle used for the listing itself.
    /// </summary>
    public static int OpenFdCount() => OpenFds().Count;

    /// <summary>The descriptors <see cref="OpenFdCount"/> counts, each with what it points at.</summary>
    public static Dictionary<int, string> OpenFds()
    {
        var fds = new Dictionary<int, string>();
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            string? target = LinkTarget(entry);
            // No target: the descriptor closed after the listing was taken, as the listing's own handle has.
            if (target is not null && !IsRuntimeOwned(target))
            {
                fds[int.Parse(Path.GetFileName(entry))] = target;
            }
        }
        return fds;
    }

    /// <summary>
    /// Fails unless the fd count comes back to exactly <paramref name="baseline"/> within <paramref name="within"/>
    /// (default 5 s). Between polls it collects garbage and runs finalizers, because a SafeHandle nobody disposed
    /// closes only when its finalizer runs. The failure message lists what is open.
    /// </summary>
    public static void AssertFdCountReturnsTo(int baseline, TimeSpan? within = null)
    {
        DateTime deadline = DateTime.UtcNow + (within ?? DefaultTimeout);
        int count = OpenFdCount();
        while (count != baseline && DateTime.UtcNow < deadline)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(10);
            count = OpenFdCount();
        }
        Assert.True(count == baseline, $"Expected {baseline} open descriptors but found {count}:\n{DescribeOpenFds()}");
    }

    /// <summary>One line per open descriptor: its number and what it points at.</summary>
    public static string DescribeOpenFds()
    {
        var text = new StringBuilder();
        foreach (string path in Directory.GetFileSystemEntries("/proc/self/fd").OrderBy(p => int.Parse(Path.GetFileName(p))))
        {
            string target = LinkTarget(path) ?? "(closed while listing)";
            text.Append("  ").Append(Path.GetFileName(path)).Append(" -> ").AppendLine(target);
        }
        return text.ToString();
    }

    private static string? LinkTarget(string fdEntry)
    {
        try
        {
            return new FileInfo(fdEntry).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Fails with the errno's name unless <paramref name="rc"/> is a success (not negative); returns it.</summary>
    public static long Ok(long rc, string call)
    {
        Assert.True(rc >= 0, $"{call} failed: {Errno.Describe((int)-rc)}");
        return rc;
    }

    /// <summary>A connected pair of Unix stream sockets. The caller disposes both.</summary>
    public static (FileDescriptor, FileDescriptor) SocketPair()
    {
        Ok(NativeSocket.CreatePair(SocketType.Stream, out FileDescriptor? first, out FileDescriptor? second), "socketpair");
        return (first!, second!);
    }

    /// <summary>A pipe. The caller disposes both ends.</summary>
    public static (FileDescriptor r, FileDescriptor w) Pipe()
    {
        Ok(Io.Pipe(out FileDescriptor? readEnd, out FileDescriptor? writeEnd), "pipe2");
        return (readEnd!, writeEnd!);
    }

    /// <summary>A fresh socket path under /tmp, short enough for sun_path; disposing it deletes the file.</summary>
    public static TempUnixPath UniqueUnixPath() => new();

    /// <summary>A stream socket bound to <paramref name="endPoint"/> and listening. The caller disposes it.</summary>
    public static FileDescriptor Listen(EndPoint endPoint, int backlog = 16)
    {
        Ok(NativeSocket.Create(endPoint.AddressFamily, SocketType.Stream, out FileDescriptor? listener), "socket");
        Ok(NativeSocket.Bind(listener!.Fd, endPoint), $"bind {endPoint}");
        Ok(NativeSocket.Listen(listener.Fd, backlog), "listen");
        return listener;
    }

    /// <summary>
    /// Connects a new socket to <paramref name="listener"/> and accepts it: (client, server), both connected.
    /// The caller disposes both.
    /// </summary>
    public static (FileDescriptor client, FileDescriptor server) ConnectedPair(FileDescriptor listener)
    {
        EndPoint target = NativeSocket.GetLocalEndPoint(listener.Fd) ?? throw new InvalidOperationException("listener is not bound");
        Ok(NativeSocket.Create(target.AddressFamily, SocketType.Stream, out FileDescriptor? client), "socket");
        int rc = NativeSocket.Connect(client!.Fd, target);
        Assert.True(rc == 0 || rc == -Errno.EINPROGRESS, $"connect {target}: {Errno.Describe(rc)}");

        WaitReady(listener.Fd, EpollFlags.In);
        int accepted = (int)Ok(NativeSocket.Accept(listener.Fd), "accept");
        var server = new FileDescriptor(accepted);

        WaitReady(client.Fd, EpollFlags.Out);
        Assert.Equal(0, NativeSocket.GetError(client.Fd));
        return (client, server);
    }

    /// <summary>
    /// Waits until <paramref name="fd"/> reports any of <paramref name="interest"/> (or an error or hang-up, which
    /// epoll always reports) and returns the reported bits. Fails after <paramref name="within"/> (default 5 s).
    /// </summary>
    internal static EpollFlags WaitReady(int fd, EpollFlags interest, TimeSpan? within = null)
    {
        Ok(Epoll.Create(out FileDescriptor? epoll), "epoll_create1");
        using (epoll)
        {
            Ok(Epoll.Control(epoll!.Fd, Epoll.Add, fd, interest, (ulong)fd), "epoll_ctl");
            return ExpectEvent(epoll.Fd, (ulong)fd, EpollFlags.None, within);
        }
    }

    /// <summary>
    /// Waits on <paramref name="epfd"/> for an event carrying <paramref name="data"/> that has every bit of
    /// <paramref name="wanted"/>, ignoring other events (epoll may wake spuriously or report other descriptors).
    /// Returns the matching event's bits; fails after <paramref name="within"/> (default 5 s).
    /// </summary>
    internal static EpollFlags ExpectEvent(int epfd, ulong data, EpollFlags wanted, TimeSpan? within = null)
    {
        DateTime deadline = DateTime.UtcNow + (within ?? DefaultTimeout);
        Span<EpollEvent> events = stackalloc EpollEvent[16];
        while (true)
        {
            int remainingMs = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
            int n = (int)Ok(Epoll.Wait(epfd, events, remainingMs), "epoll_wait");
            for (int i = 0; i < n; i++)
            {
                if (events[i].Data == data && (events[i].Events & wanted) == wanted)
                {
                    return events[i].Events;
                }
            }
            Assert.True(DateTime.UtcNow < deadline, $"No event {wanted} for {data} within {within ?? DefaultTimeout}.");
        }
    }

    /// <summary>Fails if <paramref name="epfd"/> reports any event during <paramref name="during"/>.</summary>
    public static void ExpectNoEvents(int epfd, TimeSpan during)
    {
        Span<EpollEvent> events = stackalloc EpollEvent[16];
        int n = (int)Ok(Epoll.Wait(epfd, events, (int)during.TotalMilliseconds), "epoll_wait");
        Assert.True(n == 0, $"Expected no events but got {n}, the first {events[0].Events} for {events[0].Data}.");
    }

    /// <summary>
    /// Connects to <paramref name="endPoint"/> from a thread pinned to <paramref name="cpu"/>: on loopback the kernel
    /// handles the connection's packets on the sending CPU, which is what a CPU-local reuseport listener looks at.
    /// </summary>
    public static Socket ConnectFromCpu(EndPoint endPoint, int cpu)
    {
        Socket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Assert.Equal(0, CpuAffinity.PinCurrentThread(cpu));
                socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Connect(endPoint);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(20)), "connecting from a pinned thread did not finish in 20 s");
        if (failure is not null)
        {
            socket?.Dispose();
            throw failure;
        }
        return socket!;
    }
}
