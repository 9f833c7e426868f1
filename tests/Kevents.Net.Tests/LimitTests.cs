using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class LimitTests : NetTest
{
    [Fact]
    public async Task ConnectionsOverTheLimitAreClosedWithTheRejectMessageAndCounted()
    {
        // docs/reliability.md: limit 10, open 20.
        var options = new ServerOptions { MaxConnections = 10, RejectMessage = "-ERR max number of clients reached\r\n"u8.ToArray() };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 10; i++)
            {
                clients.Add(await ConnectClientAsync(server.LocalEndPoint));
            }
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 10), "ten connections were accepted");
            for (int i = 0; i < 10; i++)
            {
                using Socket extra = await ConnectClientAsync(server.LocalEndPoint);
                (byte[] data, _) = await ReceiveToEndAsync(extra);
                Assert.Equal("-ERR max number of clients reached\r\n"u8.ToArray(), data);
            }
            Assert.Equal(10, await OnLoop(() => server.TotalRejected));
            // The ten admitted connections still work.
            foreach (Socket client in clients)
            {
                await client.SendAsync("k"u8.ToArray());
                Assert.Equal("k"u8.ToArray(), await ReceiveExactlyAsync(client, 1));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the count returned to zero");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task MaxConnectionsNeverExceedsTheDescriptorLimit()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { MaxConnections = int.MaxValue }));
        Assert.True(server.MaxConnections <= Kevents.Native.ProcessLimits.OpenFilesLimit() - 32);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task IdleConnectionIsClosedAtTheIdleTimeoutAndNotBefore()
    {
        // docs/reliability.md (scaled down): idle connections close at the timeout, active ones do not.
        // Generous margins: a loaded machine can stall the client for a few hundred milliseconds.
        var options = new ServerOptions { Connection = new ConnectionOptions { IdleTimeout = TimeSpan.FromMilliseconds(1500) } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options));
        using Socket idle = await ConnectClientAsync(server.LocalEndPoint);
        using Socket busy = await ConnectClientAsync(server.LocalEndPoint);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Task<(byte[] Data, bool Reset)> idleEnd = ReceiveToEndAsync(idle);
        // Keep the busy connection active for longer than the timeout, from a thread of its own.
        List<byte[]> echoes = await ClientSockets.KeepTalkingAsync(busy, "b"u8.ToArray(), 1, 40, TimeSpan.FromMilliseconds(50), Limit)
            .WaitAsync(Limit);
        Assert.Equal(40, echoes.Count);
        await idleEnd;
        TimeSpan closedAfter = started.Elapsed;
        Assert.True(closedAfter >= TimeSpan.FromMilliseconds(1490), $"closed after {closedAfter.TotalMilliseconds} ms");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task SlowPipeReaderStopsTheLoopReadingAtTheInputCap()
    {
        // docs/reliability.md: the peer uploads 20 MiB while the application does not read.
        const int Cap = 256 * 1024;
        var gate = new TaskCompletionSource();
        PipeConnection? connection = null;
        var options = new ServerOptions { Connection = new ConnectionOptions { MaxInputBufferSize = Cap } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            connection = c;
            await gate.Task;
            await PipeEcho.RunAsync(c);
        }, options));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        client.Blocking = false;
        byte[] chunk = new byte[64 * 1024];
        long sent = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (sent < 20L * 1024 * 1024 && DateTime.UtcNow < deadline)
        {
            try
            {
                sent += client.Send(chunk);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.WouldBlock)
            {
                await Task.Delay(10);
            }
        }
        long read = await OnLoop(() => connection!.BytesRead);
        Assert.True(sent < 20L * 1024 * 1024, "the client could send everything: nothing pushed back");
        // The loop stopped at the cap (plus at most one read's worth); the rest waits in kernel buffers.
        Assert.True(read <= Cap + 64 * 1024, $"the server read {read} bytes with a cap of {Cap}");
        Assert.True(read >= Cap / 2, $"the server read only {read} bytes");

        // Once the application reads, the loop resumes and everything comes back.
        gate.SetResult();
        client.Blocking = true;
        Task<byte[]> echoed = ReceiveExactlyAsync(client, (int)sent);
        Assert.Equal((int)sent, (await echoed).Length);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PipeWriterPausesWhenThePeerDoesNotReadAndResumesWhenItDoes()
    {
        var paused = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Total = 4 * 1024 * 1024;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            byte[] block = new byte[16 * 1024];
            int written = 0;
            bool sawPause = false;
            while (written < Total)
            {
                c.Output.Write(block);
                written += block.Length;
                ValueTask<FlushResult> flush = c.Output.FlushAsync();
                if (!flush.IsCompleted && !sawPause)
                {
                    sawPause = true;
                    paused.TrySetResult(true);
                }
                await flush;
            }
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        // The peer reads nothing: the application's flush must stop completing.
        Assert.True(await paused.Task.WaitAsync(Limit));
        // Now read everything: the writer resumes and all of it arrives.
        (byte[] data, bool reset) = await ReceiveToEndAsync(client);
        Assert.False(reset);
        Assert.Equal(Total, data.Length);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task StreamWriterPausesReadingAtTheOutputCapAndDrains()
    {
        // An echo whose peer sends but never reads: the server must stop reading rather than queue without bound.
        int drained = 0;
        StreamConnection? connection = null;
        var handler = new CallbackHandler(
            onConnected: c => connection = c,
            onData: (c, d) => c.Write(d),
            onDrained: _ => drained++);
        var options = new ServerOptions { Connection = new ConnectionOptions { MaxOutputBufferSize = 64 * 1024, ResumeOutputBufferSize = 32 * 1024 } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        client.ReceiveBufferSize = 64 * 1024;
        client.Blocking = false;
        byte[] chunk = new byte[64 * 1024];
        long sent = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                sent += client.Send(chunk);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.WouldBlock)
            {
                await Task.Delay(10);
            }
        }
        Assert.True(await OnLoop(() => connection!.IsWriterPaused), "reading was not paused");
        int queued = await OnLoop(() => connection!.QueuedOutput);
        Assert.True(queued < 64 * 1024 + 64 * 1024, $"{queued} bytes queued");

        client.Blocking = true;
        await ReceiveExactlyAsync(client, (int)sent);
        await WaitUntilAsync(() => OnLoop(() => drained > 0), "the handler heard that output drained");
        Assert.False(await OnLoop(() => connection!.IsWriterPaused));
        await OnLoop(server.Dispose);
    }
}
