using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Kevents.Native;

namespace Kevents.Benchmarks;

/// <summary>
/// The path from a poller batch to the handlers (phases 5 and 7 of a turn, without the epoll_wait syscall), against
/// a naive dispatcher that looks every ready descriptor up in a <see cref="Dictionary{TKey, TValue}"/> and invokes
/// its delegate. Every benchmark delivers exactly <see cref="KeventsPerInvoke"/> handler calls per invocation, so
/// the reported time is per kevent whatever the batch size.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class DispatchBenchmarks
{
    /// <summary>Handler calls per invocation: a multiple of every batch size below, so no batch is cut short.</summary>
    private const int KeventsPerInvoke = 4096;

    // Handlers bump a static counter so the calls cannot be optimised away; both dispatchers pay the same for it.
    private static long s_calls;

    private EventLoop _loop = null!;
    private readonly List<FileDescriptor> _sockets = new();
    private EpollEvent[] _readBatch = null!;
    private EpollEvent[] _readWriteBatch = null!;
    private Dictionary<int, Action<int>> _readHandlers = null!;
    private Dictionary<int, Action<int>> _writeHandlers = null!;

    /// <summary>Ready descriptors in one poller batch (the loop's default MaxEventsPerWait is 1024).</summary>
    [Params(256, 1024)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _loop = new EventLoop();
        _readHandlers = new Dictionary<int, Action<int>>();
        _writeHandlers = new Dictionary<int, Action<int>>();
        _readBatch = new EpollEvent[BatchSize];
        _readWriteBatch = new EpollEvent[BatchSize];
        KeventHandler handler = static (in Kevent ev) => s_calls++;
        Action<int> naiveHandler = static fd => s_calls++;

        // Two disjoint sets of sockets, one per shape, so registering Write on one set leaves the other read-only.
        // Every registration is level-triggered (no Clear, Oneshot or Dispatch), so no epoll_ctl runs while
        // dispatching: the benchmark measures collection and delivery only.
        for (int i = 0; i < BatchSize; i++)
        {
            int readOnly = OpenSocket();
            _loop.Register(Kevent.Read(readOnly), handler);
            _readHandlers[readOnly] = naiveHandler;
            _readBatch[i] = new EpollEvent(EpollFlags.In, (ulong)readOnly);

            int readWrite = OpenSocket();
            _loop.Register(Kevent.Read(readWrite), handler);
            _loop.Register(Kevent.Write(readWrite), handler);
            _readHandlers[readWrite] = naiveHandler;
            _writeHandlers[readWrite] = naiveHandler;
            _readWriteBatch[i] = new EpollEvent(EpollFlags.In | EpollFlags.Out, (ulong)readWrite);
        }
    }

    private int OpenSocket()
    {
        int rc = NativeSocket.CreatePair(SocketType.Stream, out FileDescriptor? first, out FileDescriptor? second);
        if (rc < 0)
        {
            throw new InvalidOperationException($"socketpair failed: {Errno.Describe(rc)}");
        }
        _sockets.Add(first!);
        _sockets.Add(second!);
        return first!.Fd;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _loop.Dispose();
        foreach (FileDescriptor socket in _sockets)
        {
            socket.Dispose();
        }
        _sockets.Clear();
    }

    /// <summary>Naive dispatcher: one dictionary lookup and one delegate call per ready descriptor.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = KeventsPerInvoke)]
    [BenchmarkCategory("Read")]
    public void NaiveDictionary_Read()
    {
        EpollEvent[] batch = _readBatch;
        Dictionary<int, Action<int>> handlers = _readHandlers;
        for (int round = KeventsPerInvoke / batch.Length; round > 0; round--)
        {
            foreach (ref readonly EpollEvent ev in batch.AsSpan())
            {
                int fd = (int)ev.Data;
                if (handlers.TryGetValue(fd, out Action<int>? handler))
                {
                    handler(fd);
                }
            }
        }
    }

    /// <summary>Kevents: a batch of In events, one level-triggered Read registration per descriptor.</summary>
    [Benchmark(OperationsPerInvoke = KeventsPerInvoke)]
    [BenchmarkCategory("Read")]
    public void Kevents_Read()
    {
        EpollEvent[] batch = _readBatch;
        for (int round = KeventsPerInvoke / batch.Length; round > 0; round--)
        {
            _loop.DispatchPollerBatch(batch);
        }
    }

    /// <summary>Naive dispatcher with a read and a write table: In|Out on a descriptor calls both handlers.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = KeventsPerInvoke)]
    [BenchmarkCategory("ReadWrite")]
    public void NaiveDictionary_ReadWrite()
    {
        EpollEvent[] batch = _readWriteBatch;
        Dictionary<int, Action<int>> reads = _readHandlers;
        Dictionary<int, Action<int>> writes = _writeHandlers;
        // Each event yields two handler calls.
        for (int round = KeventsPerInvoke / (2 * batch.Length); round > 0; round--)
        {
            foreach (ref readonly EpollEvent ev in batch.AsSpan())
            {
                int fd = (int)ev.Data;
                EpollFlags events = ev.Events;
                if ((events & EpollFlags.In) != 0 && reads.TryGetValue(fd, out Action<int>? onRead))
                {
                    onRead(fd);
                }
                if ((events & EpollFlags.Out) != 0 && writes.TryGetValue(fd, out Action<int>? onWrite))
                {
                    onWrite(fd);
                }
            }
        }
    }

    /// <summary>Kevents: In|Out on descriptors with both Read and Write registered, two kevents per poller event.</summary>
    [Benchmark(OperationsPerInvoke = KeventsPerInvoke)]
    [BenchmarkCategory("ReadWrite")]
    public void Kevents_ReadWrite()
    {
        EpollEvent[] batch = _readWriteBatch;
        for (int round = KeventsPerInvoke / (2 * batch.Length); round > 0; round--)
        {
            _loop.DispatchPollerBatch(batch);
        }
    }
}
