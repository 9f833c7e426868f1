using Kevents.Hybrid;
using Kevents.Tests;

namespace Kevents.File.Tests;

/// <summary>
/// Base for file tests: a private temp directory, a helper that runs an async body on a fresh loop, and the fd gate
/// (every test must leave the descriptor count exactly where it found it).
/// </summary>
public abstract class FileTest : GatedTest
{
    // An explicit static constructor runs before the first test's constructor, so before its fd baseline is taken.
    static FileTest() => Warm();

    protected FileTest()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("kevents-file-tests-").FullName;
    }

    /// <summary>A directory of this test's own, removed afterwards.</summary>
    protected string Directory { get; }

    protected string PathOf(string name) => Path.Combine(Directory, name);

    /// <summary>Creates a file of <paramref name="length"/> bytes with a known pattern and returns its contents.</summary>
    protected byte[] CreateFile(string name, int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        System.IO.File.WriteAllBytes(PathOf(name), data);
        return data;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a new loop's thread (the calling thread) until it finishes, then disposes the
    /// loop; fails if it takes longer than <paramref name="timeout"/> (default 20 s).
    /// </summary>
    protected static void RunOnLoop(Func<EventLoop, Task> body, TimeSpan? timeout = null, Action<EventLoop>? configure = null, bool disposeFromBody = false)
    {
        var loop = new EventLoop(new EventLoopOptions { Name = "file-test" });
        Exception? failure = null;
        bool finished = false;
        try
        {
            configure?.Invoke(loop);
            loop.Post(async () =>
            {
                try
                {
                    await body(loop);
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
                finally
                {
                    finished = true;
                    if (!disposeFromBody)
                    {
                        loop.Stop();
                    }
                }
            });
            using var watchdog = new Timer(_ => loop.Stop(), null, timeout ?? TimeSpan.FromSeconds(20), Timeout.InfiniteTimeSpan);
            loop.Run();
        }
        finally
        {
            loop.Dispose();
        }
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        Assert.True(finished, "The test body did not finish in time.");
    }

    /// <summary>Waits up to 10 s for <paramref name="task"/> to finish in any way, without throwing its failure.</summary>
    protected static bool WaitQuietly(Task task) =>
        task.ContinueWith(static _ => { }, TaskScheduler.Default).Wait(TimeSpan.FromSeconds(10));

    public override void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
        base.Dispose();
        GC.SuppressFinalize(this);
    }

    // The runtime opens some descriptors lazily and keeps them (thread pool, timers, the first threadlet's
    // machinery); run each once before any baseline is taken so they do not count against the first test.
    private static void Warm()
    {
        using (var loop = new EventLoop())
        {
            loop.Post(async () =>
            {
                await using (AsyncFile file = await AsyncFile.OpenAsync(loop, "/etc/hostname"))
                {
                    await file.ReadAsync(new byte[16], 0);
                }
                await using (AsyncFile file = await AsyncFile.OpenAsync(loop, "/etc/hostname", options: new AsyncFileOptions { Engine = AsyncFileEngine.Threadlet }))
                {
                    await file.ReadAsync(new byte[16], 0);
                }
                await loop.Threadlet(async t => await t.Blocking(() => 1));
                loop.Stop();
            });
            loop.Run();
        }
        Task.Run(() => 0).Wait();
        using (new Timer(_ => { }, null, 1, Timeout.Infinite))
        {
        }
    }
}
