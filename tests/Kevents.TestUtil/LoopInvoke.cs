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
}
