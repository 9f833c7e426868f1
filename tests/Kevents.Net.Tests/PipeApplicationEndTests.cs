using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Kevents.Net;
using Kevents.Net.Internal;

namespace Kevents.Tests;

/// <summary>
/// How a pipe connection notices that its application ended without a continuation on every idle connection's task:
/// none while the application's own method waits on Input, one once it waits anywhere else. Whichever way it ends,
/// the rest is sent and the connection closes.
/// </summary>
public class PipeApplicationEndTests : NetTest
{
    private static async Task Send(PipeWriter output, string text)
    {
        output.Write(Encoding.ASCII.GetBytes(text));
        await output.FlushAsync();
    }

    [Fact]
    public async Task AnIdleEchoConnectionHoldsNoContinuationOnItsApplication()
    {
        PipeConnection? connection = null;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), c =>
        {
            connection = c;
            return PipeEcho.RunAsync(c);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("x"u8.ToArray());
        Assert.Equal("x"u8.ToArray(), await ReceiveExactlyAsync(client, 1));
        Assert.False(await OnLoop(() => connection!.WatchesApplication), "an application waiting on Input needs no watcher");
        // Its end (after the peer's FIN) is still noticed: the connection closes.
        client.Shutdown(SocketShutdown.Send);
        (byte[] rest, bool reset) = await ReceiveToEndAsync(client);
        Assert.Empty(rest);
        Assert.False(reset);
        await WaitUntilAsync(() => OnLoop(() => connection!.IsClosed), "the connection closed after the application ended");
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task AnApplicationThatEndsAfterWaitingElsewhereClosesTheConnection()
    {
        PipeConnection? connection = null;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            connection = c;
            ReadResult read = await c.Input.ReadAsync();
            c.Input.AdvanceTo(read.Buffer.End);
            // Waits on a timer, not on Input: only a watcher on the task can see the end that follows.
            await Task.Delay(20);
            await Send(c.Output, "bye");
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("x"u8.ToArray());
        (byte[] received, bool reset) = await ReceiveToEndAsync(client);
        Assert.Equal("bye"u8.ToArray(), received);
        Assert.False(reset);
        Assert.True(await OnLoop(() => connection!.WatchesApplication));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task AnApplicationResumedFromAnotherThreadAndEndingThereClosesTheConnection()
    {
        PipeConnection? connection = null;
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            connection = c;
            ValueTask<ReadResult> pending = c.Input.ReadAsync();
            waiting.SetResult();
            ReadResult read = await pending;
            c.Input.AdvanceTo(read.Buffer.End);
            // Runs on the canceling thread, which is where the application's task completes.
            c.Output.Write(Encoding.ASCII.GetBytes(read.IsCanceled ? "canceled" : "read"));
            _ = c.Output.FlushAsync();
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await waiting.Task.WaitAsync(Limit);
        await WaitUntilAsync(() => OnLoop(() => !connection!.WatchesApplication), "the application waits on Input");
        await Task.Run(() => connection!.Input.CancelPendingRead());
        (byte[] received, bool reset) = await ReceiveToEndAsync(client);
        Assert.Equal("canceled"u8.ToArray(), received);
        Assert.False(reset);
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task ClosedConnectionsAreNoLongerReachableFromTheLoopsHandlers()
    {
        PipeConnection? connection = null;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), c =>
        {
            connection = c;
            return PipeEcho.RunAsync(c);
        }));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync("x"u8.ToArray());
            Assert.Equal("x"u8.ToArray(), await ReceiveExactlyAsync(client, 1));
            Assert.True(await OnLoop(() => NetLoop.Of(Loop).Tracks(connection!)));
        }
        await WaitUntilAsync(() => OnLoop(() => connection!.IsClosed), "the connection closed");
        Assert.False(await OnLoop(() => NetLoop.Of(Loop).Tracks(connection!)), "a closed connection must not stay reachable");
        await OnLoop(() => server.Dispose());
    }
}
