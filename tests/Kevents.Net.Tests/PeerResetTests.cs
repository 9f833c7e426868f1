using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// A peer that resets after sending is a failure, never a clean end of stream: a truncated upload must not look
/// complete. The loop reads (and so clears) SO_ERROR when epoll reports the error; the connection keeps it.
/// </summary>
public class PeerResetTests : NetTest
{
    private static readonly ServerOptions NoTimeouts = new()
    {
        Connection = new ConnectionOptions { IdleTimeout = Timeout.InfiniteTimeSpan, MinResponseDataRate = null },
    };

    [Fact]
    public async Task PeerResetAfterDataFailsThePipeReadWithConnectionReset()
    {
        long received = -1;
        Exception? outcome = null;
        bool completedCleanly = false;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            long total = 0;
            try
            {
                while (true)
                {
                    ReadResult result = await c.Input.ReadAsync();
                    total += result.Buffer.Length;
                    c.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        completedCleanly = true;
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                outcome = ex;
            }
            received = total;
        }, NoTimeouts));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync(new byte[1000]);
            ResetOnClose(client);
        }
        await WaitUntilAsync(() => OnLoop(() => received >= 0), "the application ended");
        Assert.False(await OnLoop(() => completedCleanly), "a reset upload must never look complete");
        var reset = Assert.IsType<ConnectionResetException>(await OnLoop(() => outcome));
        Assert.Equal(-Errno.ECONNRESET, reset.Error); // as the kernel reported it, negative as Kevent.Data
        // Linux keeps what arrived before the reset readable: the application gets all of it, then the failure.
        Assert.Equal(1000, await OnLoop(() => received));
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection closed");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PeerResetAfterDataClosesTheStreamHandlerWithConnectionReset()
    {
        int received = 0, endOfStream = 0, closed = 0;
        Exception? error = null;
        var handler = new ResetRecorder(
            onData: n => received += n,
            onEndOfStream: () => endOfStream++,
            onClosed: e =>
            {
                error = e;
                closed++;
            });
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync(new byte[1000]);
            ResetOnClose(client);
        }
        await WaitUntilAsync(() => OnLoop(() => closed == 1), "the connection closed");
        Assert.Equal(0, await OnLoop(() => endOfStream));
        Assert.IsType<ConnectionResetException>(await OnLoop(() => error));
        Assert.Equal(1000, await OnLoop(() => received));
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PeerFinAfterDataStillCompletesThePipeCleanly()
    {
        // The other side of the same rule: a FIN is an orderly end, with every byte delivered.
        long received = -1;
        Exception? outcome = null;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            long total = 0;
            try
            {
                while (true)
                {
                    ReadResult result = await c.Input.ReadAsync();
                    total += result.Buffer.Length;
                    c.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                outcome = ex;
            }
            received = total;
        }, NoTimeouts));
        using (Socket client = await ConnectClientAsync(server.LocalEndPoint))
        {
            await client.SendAsync(new byte[1000]);
            client.Shutdown(SocketShutdown.Send);
            await ReceiveToEndAsync(client);
        }
        await WaitUntilAsync(() => OnLoop(() => received >= 0), "the application ended");
        Assert.Null(await OnLoop(() => outcome));
        Assert.Equal(1000, await OnLoop(() => received));
        await OnLoop(server.Dispose);
    }

    /// <summary>SO_LINGER 0: the close that follows sends RST instead of FIN.</summary>
    private static void ResetOnClose(Socket socket) => socket.LingerState = new LingerOption(true, 0);

    private sealed class ResetRecorder(Action<int> onData, Action onEndOfStream, Action<Exception?> onClosed) : IStreamHandler
    {
        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => onData(data.Length);

        public void OnEndOfStream(StreamConnection connection)
        {
            onEndOfStream();
            connection.Close();
        }

        public void OnClosed(StreamConnection connection, Exception? error) => onClosed(error);
    }
}
