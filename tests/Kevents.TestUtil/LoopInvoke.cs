namespace Kevents.Tests;

/// <summary>Runs test code on a loop that runs on its own thread, and hands the result back.</summary>
public static class LoopInvoke
{
    /// <summary>Runs <paramref name="work"/> on the loop thread and returns its result (or its exception).</summary>
    public static Task<T> InvokeAsync<T>(this EventLoop loop, Func<T> work)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(() =>
        {
            try
            {
                result.SetResult(work());
            }
            catch (Exception ex)
            {
                result.SetException(ex);
            }
        });
        return result.Task;
    }

    /// <summary>Runs <paramref name="work"/> on the loop thread.</summary>
    public static Task InvokeAsync(this EventLoop loop, Action work) => loop.InvokeAsync(() =>
    {
        work();
        return true;
    });

    /// <summary>Starts an async flow on the loop thread (its awaits resume there) and returns its result.</summary>
    public static Task<T> InvokeAsync<T>(this EventLoop loop, Func<Task<T>> work)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(async () =>
        {
            try
            {
                result.SetResult(await work());
            }
            catch (Exception ex)
            {
                result.SetException(ex);
            }
        });
        return result.Task;
    }

    /// <summary>
    /// Teardown for a loop a test runs itself: disposes <paramref name="server"/> on the loop thread (so its listener
    /// and connections are closed before the loop stops, and the fd gate sees them closed), then disposes the loop and
    /// waits for its run to end. Each wait is bounded at 5 s, so a teardown never hangs a test run.
    /// </summary>
    public static void DisposeWithServer(this EventLoop loop, Task running, IDisposable server)
    {
        var released = new TaskCompletionSource();
        loop.Post(() =>
        {
            server.Dispose();
            released.TrySetResult();
        });
        released.Task.Wait(TimeSpan.FromSeconds(5));
        loop.Dispose();
        running.Wait(TimeSpan.FromSeconds(5));
    }
}
