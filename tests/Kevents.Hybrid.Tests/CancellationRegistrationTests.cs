using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid.Tests;

// docs/reliability.md: a cancellation registration belongs to one use of a pooled operation. A worker may take an op the
// moment it is queued; whatever the interleaving, cancelling the token of a threadlet that already finished must
// never reach the op once it was recycled for another threadlet.
public sealed class CancellationRegistrationTests : HybridTest
{
    // Awaited on the loop thread, as a loop's own code awaits it: the handle then goes back to the pool on the loop,
    // together with its finished op, for the next threadlet to reuse.
    private static Task<T> Start<T>(LoopThread lt, Func<Threadlet, ValueTask<T>> body, CancellationToken token = default) =>
        lt.OnLoop(async () => await lt.Loop.Threadlet(body, token));

    [Fact]
    public async Task CancellingAFinishedThreadletsTokenNeverCancelsItsRecycledOperation()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 1, SpinBeforeIdle = TimeSpan.Zero });
        using var firstRan = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        using var blockerRunning = new ManualResetEventSlim();
        using var firstToken = new CancellationTokenSource();
        var queuedOps = new List<PendingOp>();

        // The worker takes the first threadlet's op before the loop thread goes on past queueing it: the interleaving
        // in which a late registration would outlive the op. The work then finishes only once the loop has finished
        // starting the threadlet (a posted item runs after the current one), so the threadlet completes the usual way
        // and its handle, with the op, goes back to the pool.
        using var proceed = new ManualResetEventSlim();
        lt.Runtime.AfterQueuedForTest = op =>
        {
            queuedOps.Add(op);
            if (queuedOps.Count == 1)
            {
                Assert.True(firstRan.Wait(TimeSpan.FromSeconds(10)));
                lt.Loop.Post(proceed.Set);
            }
        };
        Func<int> first = () =>
        {
            firstRan.Set();
            proceed.Wait(TimeSpan.FromSeconds(10));
            return 1;
        };
        Assert.Equal(1, await Start(lt, async t => await t.Blocking(first), firstToken.Token).WaitAsync(TimeSpan.FromSeconds(10)));

        // Occupy the only thread with a threadlet that is not pooled (the kevent form), so the next op stays queued.
        ulong blocker = await lt.OnLoop(() => Task.FromResult(lt.Loop.SubmitThreadlet(async t => await t.Blocking(() =>
        {
            blockerRunning.Set();
            gate.Wait(TimeSpan.FromSeconds(10));
            return 2L;
        }), handler: static (in Kevent _) => { })));
        Assert.True(blockerRunning.Wait(TimeSpan.FromSeconds(10)));

        // The next threadlet gets the pooled handle and, with the same shape of blocking work, its pooled op.
        Func<int> second = () => 3;
        Task<int> victim = Start(lt, async t => await t.Blocking(second));
        await InlineAndOffloadTests.WaitUntil(() => lt.Runtime.QueueDepth(WorkClass.Short) == 1);
        Assert.Same(queuedOps[0], queuedOps[^1]);

        firstToken.Cancel();
        gate.Set();
        Assert.Equal(3, await victim.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, lt.Runtime.CancelledWhileQueued);
        Assert.NotEqual(0UL, blocker);
    }

    [Fact]
    public async Task ATokenCancelledBeforeTheOpIsQueuedCancelsItOnceWithoutRunningIt()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 1 });
        using var cts = new CancellationTokenSource();
        int ran = 0;
        // The op is created while the token is live and awaited (queued) after it was cancelled: the registration,
        // made before queueing, fires at once and the op must not enter the queue.
        Task<int> task = Start(lt, async t =>
        {
            ThreadletOperation<int> op = t.Blocking(() => Interlocked.Increment(ref ran));
            cts.Cancel();
            return await op;
        }, cts.Token);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, Volatile.Read(ref ran));
        Assert.Equal(0, lt.Runtime.QueueDepth(WorkClass.Short));
        Assert.Equal(1, lt.Runtime.CancelledWhileQueued);

        // The runtime goes on as before.
        Assert.Equal(5, await Start(lt, async t => await t.Blocking(() => 5)).WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
