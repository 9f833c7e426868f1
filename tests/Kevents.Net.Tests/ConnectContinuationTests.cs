using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Where code after <c>await loop.ConnectAsync(...)</c> runs: never on the loop thread for a caller that is not on
/// it (blocking there would stall every connection of the loop), on the loop for a caller that is.
/// </summary>
public class ConnectContinuationTests : NetTest
{
    [Fact]
    public async Task AwaitingConnectOffTheLoopResumesOffTheLoop()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), PipeEcho.RunAsync));
        // Task.Run: a thread-pool caller with no SynchronizationContext, so nothing else moves the continuation.
        (bool pipeOnLoop, PipeConnection pipe) = await Task.Run(async () =>
        {
            PipeConnection c = await Loop.ConnectAsync(server.LocalEndPoint);
            return (Loop.IsOnLoopThread, c);
        });
        (bool streamOnLoop, StreamConnection stream) = await Task.Run(async () =>
        {
            StreamConnection c = await Loop.ConnectAsync(server.LocalEndPoint, new StreamEcho());
            return (Loop.IsOnLoopThread, c);
        });
        Assert.False(pipeOnLoop, "the pipe connect's continuation ran on the loop thread");
        Assert.False(streamOnLoop, "the stream connect's continuation ran on the loop thread");

        // Even a continuation that asks to run synchronously (or an await whose completing thread has no
        // SynchronizationContext to deflect it, as when the loop is driven with Poll) must not run on the loop.
        // The loop is held until the continuation is attached, so the connect is sure to complete on the loop.
        int loopThread = await OnLoop(() => Environment.CurrentManagedThreadId);
        using var gate = new ManualResetEventSlim();
        Loop.Post(() => gate.Wait(Limit));
        Task<(int, PipeConnection)> continued = Loop.ConnectAsync(server.LocalEndPoint)
            .ContinueWith(t => (Environment.CurrentManagedThreadId, t.Result), TaskContinuationOptions.ExecuteSynchronously);
        gate.Set();
        (int continuationThread, PipeConnection third) = await continued.WaitAsync(Limit);
        Assert.NotEqual(loopThread, continuationThread);

        bool onLoopCallerResumedOnLoop = await OnLoopAsync(async () =>
        {
            PipeConnection c = await Loop.ConnectAsync(server.LocalEndPoint);
            bool onLoop = Loop.IsOnLoopThread;
            c.Close();
            return onLoop;
        });
        Assert.True(onLoopCallerResumedOnLoop);

        await OnLoop(() =>
        {
            pipe.Close();
            stream.Close();
            third.Close();
        });
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "every connection closed");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public void ConnectToAHostNameSaysToResolveItFirst()
    {
        var ex = Assert.Throws<ArgumentException>(() => { _ = Loop.ConnectAsync(new System.Net.DnsEndPoint("localhost", 9)); });
        Assert.Equal("endPoint", ex.ParamName);
        Assert.Contains("IPEndPoint", ex.Message);
    }
}
