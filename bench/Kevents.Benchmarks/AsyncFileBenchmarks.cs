using BenchmarkDotNet.Attributes;
using Kevents.File;
using Kevents.Native;
using Microsoft.Win32.SafeHandles;

namespace Kevents.Benchmarks;

/// <summary>
/// Issue 5's file targets, side by side: 4 KiB reads at 64 in flight through AsyncFile on io_uring, AsyncFile on the
/// threadlet engine, and RandomAccess.ReadAsync on a handle opened with FileOptions.Asynchronous.
/// </summary>
/// <remarks>
/// Each AsyncFile loop runs on its own thread; one invocation posts a driver that keeps <see cref="InFlight"/> reads
/// going until <see cref="Reads"/> have completed, so the cross-thread hand-off is paid once per 4096 reads.
/// Offsets walk the file in a scattered but fixed order, 4 KiB aligned.
/// </remarks>
public abstract class AsyncFileBenchmarkBase
{
    protected const int Reads = 4096;
    protected const int InFlight = 64;
    protected const int BlockSize = 4096;

    private EventLoop _uringLoop = null!;
    private EventLoop _threadletLoop = null!;
    private AsyncFile _uringFile = null!;
    private AsyncFile _threadletFile = null!;
    private SafeFileHandle _handle = null!;
    private readonly byte[][] _buffers = Enumerable.Range(0, InFlight).Select(_ => new byte[BlockSize]).ToArray();
    private long _checksum;

    protected abstract long FileLength { get; }

    protected string FilePath { get; private set; } = "";

    protected EventLoop UringLoop => _uringLoop;

    protected EventLoop ThreadletLoop => _threadletLoop;

    protected void SetupFiles()
    {
        FilePath = Path.Combine(Path.GetTempPath(), $"kevents-aio-bench-{GetType().Name}-{Environment.ProcessId}.bin");
        var data = new byte[FileLength];
        new Random(5).NextBytes(data);
        System.IO.File.WriteAllBytes(FilePath, data);
        _uringLoop = StartLoop("bench-uring");
        _threadletLoop = StartLoop("bench-threadlet");
        _uringFile = OpenOn(_uringLoop, AsyncFileEngine.IoUring);
        _threadletFile = OpenOn(_threadletLoop, AsyncFileEngine.Threadlet);
        _handle = System.IO.File.OpenHandle(FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
    }

    protected void CleanupFiles()
    {
        _uringFile.Dispose();
        _threadletFile.Dispose();
        _uringLoop.Dispose();
        _threadletLoop.Dispose();
        _handle.Dispose();
        System.IO.File.Delete(FilePath);
    }

    /// <summary>Drops the file's pages from the page cache (for cold reads).</summary>
    protected void DropCache()
    {
        using SafeFileHandle h = System.IO.File.OpenHandle(FilePath);
        int rc = NativeFile.DropCache((int)h.DangerousGetHandle());
        if (rc < 0)
        {
            throw new IOException($"posix_fadvise(DONTNEED) failed: {Errno.Describe(-rc)}");
        }
    }

    protected void ReadThroughAsyncFile(bool uring)
    {
        EventLoop loop = uring ? _uringLoop : _threadletLoop;
        AsyncFile file = uring ? _uringFile : _threadletFile;
        var done = new ManualResetEventSlim();
        loop.Post(async () =>
        {
            var workers = new Task[InFlight];
            for (int w = 0; w < InFlight; w++)
            {
                workers[w] = Worker(file, w);
            }
            await Task.WhenAll(workers);
            done.Set();
        });
        done.Wait();
    }

    private async Task Worker(AsyncFile file, int worker)
    {
        byte[] buffer = _buffers[worker];
        for (int i = worker; i < Reads; i += InFlight)
        {
            _checksum += await file.ReadAsync(buffer, OffsetOf(i));
        }
    }

    protected void ReadThroughRandomAccess()
    {
        var workers = new Task[InFlight];
        for (int w = 0; w < InFlight; w++)
        {
            int worker = w;
            workers[w] = Task.Run(async () =>
            {
                byte[] buffer = _buffers[worker];
                for (int i = worker; i < Reads; i += InFlight)
                {
                    _checksum += await RandomAccess.ReadAsync(_handle, buffer, OffsetOf(i));
                }
            });
        }
        Task.WaitAll(workers);
    }

    private long OffsetOf(int i)
    {
        long blocks = FileLength / BlockSize;
        // A fixed stride that is odd, hence coprime with the power-of-two block count: every block once, scattered.
        return (i * 2_654_435_761L % blocks) * BlockSize;
    }

    private static EventLoop StartLoop(string name)
    {
        var loop = new EventLoop(new EventLoopOptions { Name = name });
        _ = loop.RunAsync();
        return loop;
    }

    private AsyncFile OpenOn(EventLoop loop, AsyncFileEngine engine) =>
        AsyncFile.OpenAsync(loop, FilePath, options: new AsyncFileOptions { Engine = engine }).AsTask().GetAwaiter().GetResult();
}

/// <summary>4 KiB reads of a cached 16 MiB file, 64 in flight.</summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class AsyncFileBenchmarks : AsyncFileBenchmarkBase
{
    protected override long FileLength => 16L << 20;

    [GlobalSetup]
    public void Setup()
    {
        SetupFiles();
        System.IO.File.ReadAllBytes(FilePath);
    }

    [GlobalCleanup]
    public void Cleanup() => CleanupFiles();

    [Benchmark(Baseline = true, OperationsPerInvoke = Reads, Description = "RandomAccess.ReadAsync (FileOptions.Asynchronous)")]
    public void RandomAccessRead() => ReadThroughRandomAccess();

    [Benchmark(OperationsPerInvoke = Reads, Description = "AsyncFile, io_uring")]
    public void AsyncFileIoUring() => ReadThroughAsyncFile(uring: true);

    [Benchmark(OperationsPerInvoke = Reads, Description = "AsyncFile, threadlet engine")]
    public void AsyncFileThreadlets() => ReadThroughAsyncFile(uring: false);
}

/// <summary>
/// Cold 4 KiB reads (the file's pages dropped with posix_fadvise(DONTNEED) before every invocation), 64 in flight,
/// while a 1 ms periodic timer runs on each AsyncFile loop: its worst gap between ticks shows whether the loop keeps
/// serving while reads wait for the disk. The worst gaps are printed at cleanup.
/// </summary>
public class AsyncFileColdReadBenchmarks : AsyncFileBenchmarkBase
{
    private readonly long[] _worstGapNs = new long[2];

    protected override long FileLength => 16L << 20;

    [GlobalSetup]
    public void Setup()
    {
        SetupFiles();
        WatchTimer(UringLoop, 0);
        WatchTimer(ThreadletLoop, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// cold reads: worst 1 ms timer gap on the io_uring loop {_worstGapNs[0] / 1e6:F2} ms, on the threadlet loop {_worstGapNs[1] / 1e6:F2} ms");
        CleanupFiles();
    }

    [IterationSetup]
    public void Drop() => DropCache();

    [Benchmark(Baseline = true, OperationsPerInvoke = Reads, Description = "cold: RandomAccess.ReadAsync")]
    public void RandomAccessRead() => ReadThroughRandomAccess();

    [Benchmark(OperationsPerInvoke = Reads, Description = "cold: AsyncFile, io_uring")]
    public void AsyncFileIoUring() => ReadThroughAsyncFile(uring: true);

    [Benchmark(OperationsPerInvoke = Reads, Description = "cold: AsyncFile, threadlet engine")]
    public void AsyncFileThreadlets() => ReadThroughAsyncFile(uring: false);

    private void WatchTimer(EventLoop loop, int slot)
    {
        var registered = new ManualResetEventSlim();
        loop.Post(() =>
        {
            long last = loop.NowNanoseconds;
            loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: true), (in Kevent _) =>
            {
                long now = loop.NowNanoseconds;
                _worstGapNs[slot] = Math.Max(_worstGapNs[slot], now - last);
                last = now;
            });
            registered.Set();
        });
        registered.Wait();
    }
}
