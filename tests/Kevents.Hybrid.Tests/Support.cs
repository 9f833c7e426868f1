using System.Collections.Concurrent;
using Kevents.Native;
using Kevents.Tests;
using Microsoft.Extensions.Logging;

namespace Kevents.Hybrid.Tests;

/// <summary>
/// Base of the threadlet tests: the leak gate per test, with the runtime's lazily opened descriptors (thread pool,
/// timers, the first threadlet file read) opened once before any baseline is taken.
/// </summary>
public abstract class HybridTest : GatedTest
{
    static HybridTest()
    {
        using (var loop = new EventLoop())
        {
            var buffer = new byte[16];
            loop.Post(async () =>
            {
                await loop.Threadlet(async t =>
                {
                    using ThreadletFile f = await t.OpenAsync("/etc/hostname");
                    return await t.ReadAsync(f, buffer, 0);
                });
                loop.Stop();
            });
            loop.Run();
        }
        Task.Run(() => 0).Wait();
    }
}

/// <summary>A clock that moves only when told; timers fire on Advance, on the advancing thread.</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly object _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _ticks = TimeSpan.TicksPerDay;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by)
    {
        long now = Interlocked.Add(ref _ticks, by.Ticks);
        List<ManualTimer> due;
        lock (_lock)
        {
            due = _timers.Where(t => t.DueAt <= now).ToList();
        }
        foreach (ManualTimer timer in due)
        {
            timer.Fire(now);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period;
        public long DueAt = long.MaxValue;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                _period = period;
                DueAt = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner.GetTimestamp() + dueTime.Ticks;
                if (!owner._timers.Contains(this))
                {
                    owner._timers.Add(this);
                }
            }
            return true;
        }

        public void Fire(long now)
        {
            lock (owner._lock)
            {
                DueAt = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? long.MaxValue : now + _period.Ticks;
            }
            callback(state);
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Collects log lines (level and message) from every logger it makes.</summary>
public sealed class CapturingLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue((logLevel, category, formatter(state, exception)));
    }
}

/// <summary>Runs a loop on its own thread for a test and gets work done on it.</summary>
public sealed class LoopThread : IDisposable
{
    private readonly Task _run;
    private int _threadId;

    public LoopThread(EventLoopOptions? options = null, ThreadletOptions? threadlets = null)
    {
        Loop = new EventLoop(options ?? new EventLoopOptions());
        Runtime = Loop.UseThreadlets(threadlets ?? new ThreadletOptions());
        _run = Loop.RunAsync();
        ThreadId = OnLoop(() => Task.FromResult(Environment.CurrentManagedThreadId)).GetAwaiter().GetResult();
    }

    public EventLoop Loop { get; }

    public ThreadletRuntime Runtime { get; }

    public int ThreadId { get => _threadId; private set => _threadId = value; }

    /// <summary>Runs <paramref name="work"/> on the loop thread and returns its result to the caller.</summary>
    public Task<T> OnLoop<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Loop.Post(async () =>
        {
            try
            {
                done.SetResult(await work());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task;
    }

    public void Dispose()
    {
        Loop.Dispose();
        _run.Wait(TimeSpan.FromSeconds(30));
    }
}

internal static class TempFiles
{
    public static string Directory { get; } = CreateDirectory();

    private static string CreateDirectory()
    {
        // /tmp here is ext4, so page-cache eviction and RWF_NOWAIT behave as on a real server disk.
        string dir = Path.Combine(Path.GetTempPath(), $"kevents-hybrid-tests-{Environment.ProcessId}");
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    public static string WithContent(string name, byte[] content)
    {
        string path = Path.Combine(Directory, name);
        File.WriteAllBytes(path, content);
        File.ReadAllBytes(path); // now it is in the page cache and the dentry cache
        return path;
    }

    public static byte[] Bytes(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Evicts <paramref name="path"/> from the page cache; false when this file system cannot.</summary>
    public static bool Evict(string path)
    {
        if (NativeFile.Open(path, FileOpenFlags.ReadOnly, 0, cachedOnly: false, out FileDescriptor? fd) < 0)
        {
            return false;
        }
        using (fd)
        {
            NativeFile.DropCache(fd!.Fd);
            bool evictable = NativeFile.Read(fd.Fd, new byte[1], 0, noWait: true) == -Errno.EAGAIN;
            // A missed RWF_NOWAIT read still starts readahead: drop the pages again so the next reader misses too.
            NativeFile.DropCache(fd.Fd);
            return evictable;
        }
    }
}
