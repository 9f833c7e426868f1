using BenchmarkDotNet.Attributes;
using Kevents.Hybrid;
using Kevents.Native;

namespace Kevents.Benchmarks;

/// <summary>
/// Threadlets against the alternatives, side by side (issue 4's targets):
/// a cached 4 KiB file opened, read and closed through a threadlet, vs the same syscalls called directly on the loop
/// thread, vs System.IO.File.ReadAllBytesAsync, vs Task.Run(System.IO.File.ReadAllBytes); and an offloaded threadlet's round trip
/// (loop -> cache-miss thread -> completion kevent -> loop) vs await Task.Run from a thread-pool thread.
/// </summary>
/// <remarks>
/// The loop runs on the benchmark thread itself (Post, then Poll), so no cross-thread hand-off is measured for the
/// inline cases; each invocation does <see cref="Batch"/> operations to amortise the one Poll.
/// </remarks>
[MemoryDiagnoser]
public class ThreadletBenchmarks
{
    private const int Batch = 256;

    private readonly byte[] _buffer = new byte[4096];
    private readonly Kevent[] _events = new Kevent[16];
    private string _path = "";
    private EventLoop _loop = null!;
    private Func<Threadlet, ValueTask<int>> _readBody = null!;
    private Action _threadletBatch = null!;
    private Action _directBatch = null!;
    private long _checksum;

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"kevents-bench-{Environment.ProcessId}.bin");
        System.IO.File.WriteAllBytes(_path, new byte[4096]);
        System.IO.File.ReadAllBytes(_path);
        _loop = new EventLoop(new EventLoopOptions { Name = "bench" });
        _loop.UseThreadlets(new ThreadletOptions { WatchdogThreshold = TimeSpan.FromMilliseconds(50) });
        _readBody = async t =>
        {
            using ThreadletFile file = await t.OpenAsync(_path);
            return await t.ReadAsync(file, _buffer, 0);
        };
        _threadletBatch = () =>
        {
            for (int i = 0; i < Batch; i++)
            {
                ValueTask<int> task = _loop.Threadlet(_readBody);
                _checksum += task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();
            }
        };
        _directBatch = () =>
        {
            for (int i = 0; i < Batch; i++)
            {
                NativeFile.Open(_path, FileOpenFlags.ReadOnly, 0, cachedOnly: true, out FileDescriptor? fd);
                using (fd)
                {
                    _checksum += NativeFile.Read(fd!.Fd, _buffer, 0, noWait: true);
                }
            }
        };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _loop.Dispose();
        System.IO.File.Delete(_path);
    }

    private void RunOnLoop(Action batch)
    {
        _loop.Post(batch);
        _loop.Poll(_events, TimeSpan.Zero);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "direct syscalls on the loop (openat2+preadv2+close)")]
    public void DirectSyscallsOnLoop() => RunOnLoop(_directBatch);

    [Benchmark(OperationsPerInvoke = Batch, Description = "threadlet: OpenAsync+ReadAsync+close (cached, inline)")]
    public void ThreadletCachedRead() => RunOnLoop(_threadletBatch);

    [Benchmark(OperationsPerInvoke = Batch, Description = "await System.IO.File.ReadAllBytesAsync")]
    public async Task FileReadAllBytesAsync()
    {
        for (int i = 0; i < Batch; i++)
        {
            _checksum += (await System.IO.File.ReadAllBytesAsync(_path)).Length;
        }
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "await Task.Run(System.IO.File.ReadAllBytes)")]
    public async Task TaskRunReadAllBytes()
    {
        for (int i = 0; i < Batch; i++)
        {
            _checksum += (await Task.Run(() => System.IO.File.ReadAllBytes(_path))).Length;
        }
    }
}

/// <summary>
/// An offloaded threadlet's round trip (loop -> cache-miss thread -> Threadlet completion kevent -> awaiter on the
/// loop) against two baselines in the same run: <c>await Task.Run(...)</c> from a thread-pool thread (issue 4's
/// target; usually no cross-thread wake-up at all, the awaiting pool thread runs the work itself) and a dedicated
/// caller thread handing work to a dedicated worker thread and waiting for the reply (SemaphoreSlim both ways: the
/// same shape as the threadlet, two cross-thread hand-offs per round trip).
/// </summary>
/// <remarks>
/// <see cref="Spin"/> = true is the latency configuration: the loop has <c>SpinBeforeSleep = 50 us</c> and the
/// cache-miss threads <c>SpinBeforeIdle = 50 us</c>. False turns both off (every hand-off parks and wakes a thread);
/// SemaphoreSlim spins briefly by itself in both. Adaptive routing is off (<c>ColdAfterBlocks = 0</c>) so every start
/// goes inline first and hops at <c>Blocking</c>; the watchdog keeps its default.
/// </remarks>
[MemoryDiagnoser]
public class ThreadletRoundTripBenchmarks
{
    private const int Batch = 256;

    private EventLoop _loop = null!;
    private Task _running = null!;
    private Func<Threadlet, ValueTask<int>> _offloaded = null!;
    private Func<Task> _threadletBatch = null!;
    private TaskCompletionSource _done = null!;
    private static readonly Func<int> s_work = static () => 1;

    private Thread _worker = null!;
    private readonly SemaphoreSlim _request = new(0);
    private readonly SemaphoreSlim _reply = new(0);
    private volatile bool _stopWorker;
    private int _handoffResult;

    [Params(true, false)]
    public bool Spin { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        TimeSpan spin = Spin ? TimeSpan.FromMicroseconds(50) : TimeSpan.Zero;
        _loop = new EventLoop(new EventLoopOptions { Name = "bench-rt", SpinBeforeSleep = spin });
        _loop.UseThreadlets(new ThreadletOptions { ColdAfterBlocks = 0, SpinBeforeIdle = spin });
        _offloaded = static async t => await t.Blocking(s_work);
        _threadletBatch = async () =>
        {
            int sum = 0;
            for (int i = 0; i < Batch; i++)
            {
                sum += await _loop.Threadlet(_offloaded);
            }
            _done.SetResult();
        };
        _running = _loop.RunAsync();

        _worker = new Thread(() =>
        {
            while (true)
            {
                _request.Wait();
                if (_stopWorker)
                {
                    return;
                }
                _handoffResult = s_work();
                _reply.Release();
            }
        })
        { IsBackground = true, Name = "bench-handoff" };
        _worker.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _loop.Dispose();
        _running.Wait();
        _stopWorker = true;
        _request.Release();
        _worker.Join();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch, Description = "await Task.Run(() => 1) from a pool thread")]
    public Task TaskRunRoundTrip() => Task.Run(async () =>
    {
        int sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            sum += await Task.Run(s_work);
        }
        return sum;
    });

    [Benchmark(OperationsPerInvoke = Batch, Description = "dedicated thread -> dedicated worker -> reply (SemaphoreSlim both ways)")]
    public int DedicatedThreadHandoff()
    {
        int sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            _request.Release();
            _reply.Wait();
            sum += _handoffResult;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "threadlet on the loop: Blocking -> cache-miss thread -> kevent -> loop")]
    public Task ThreadletOffloadedRoundTrip()
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Post(_threadletBatch);
        return _done.Task;
    }
}
