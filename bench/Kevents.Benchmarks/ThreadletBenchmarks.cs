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

/// <summary>An offloaded threadlet's round trip vs await Task.Run(...) from a thread-pool thread.</summary>
[MemoryDiagnoser]
public class ThreadletRoundTripBenchmarks
{
    private const int Batch = 256;

    private EventLoop _loop = null!;
    private Task _running = null!;
    private Func<Threadlet, ValueTask<int>> _offloaded = null!;
    private static readonly Func<int> s_work = static () => 1;

    [GlobalSetup]
    public void Setup()
    {
        // The loop spins briefly before sleeping, as a latency-sensitive deployment would configure it.
        _loop = new EventLoop(new EventLoopOptions { Name = "bench-rt", SpinBeforeSleep = TimeSpan.FromMicroseconds(50) });
        // Adaptive routing off: every start must go inline first and hop at Blocking.
        _loop.UseThreadlets(new ThreadletOptions { ColdAfterBlocks = 0 });
        _offloaded = static async t => await t.Blocking(s_work);
        _running = _loop.RunAsync();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _loop.Dispose();
        _running.Wait();
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

    [Benchmark(OperationsPerInvoke = Batch, Description = "threadlet on the loop: Blocking -> cache-miss thread -> kevent -> loop")]
    public Task ThreadletOffloadedRoundTrip()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop.Post(async () =>
        {
            int sum = 0;
            for (int i = 0; i < Batch; i++)
            {
                sum += await _loop.Threadlet(_offloaded);
            }
            done.SetResult();
        });
        return done.Task;
    }
}
