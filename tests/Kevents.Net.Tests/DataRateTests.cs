using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>docs/reliability.md: a peer that will not take its replies is aborted below the minimum response rate.</summary>
public class DataRateTests : NetTest
{
    // Far more than the socket buffers hold once both are made small (LimitSocketBuffer, ConnectNonReaderAsync), so
    // most of the reply stays queued in the connection (the tests check that it did).
    private const int ReplySize = 1024 * 1024;

    private static ServerOptions RateOptions(TimeSpan? idle = null) => new()
    {
        Connection = new ConnectionOptions
        {
            // 160 KiB/s: the shortest window for it is the 1 s grace period (see ConnectionOptions.MinResponseDataRate).
            MinResponseDataRate = 160 * 1024,
            MinResponseDataRateGracePeriod = TimeSpan.FromSeconds(1),
            IdleTimeout = idle ?? TimeSpan.FromSeconds(30),
        },
    };

    [Fact]
    public async Task ResponseRateDefaultsToKestrelsAndZeroOrNullDisablesIt()
    {
        var options = new ConnectionOptions();
        Assert.Equal(240, options.MinResponseDataRate);
        Assert.Equal(TimeSpan.FromSeconds(5), options.MinResponseDataRateGracePeriod);
        // Disabled, the grace period is not looked at.
        await ListenAndDisposeAsync(new ConnectionOptions { MinResponseDataRate = null, MinResponseDataRateGracePeriod = TimeSpan.Zero });
        await ListenAndDisposeAsync(new ConnectionOptions { MinResponseDataRate = 0, MinResponseDataRateGracePeriod = TimeSpan.Zero });
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ListenAndDisposeAsync(new ConnectionOptions { MinResponseDataRate = -1 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => ListenAndDisposeAsync(new ConnectionOptions { MinResponseDataRateGracePeriod = TimeSpan.Zero }));
    }

    private Task ListenAndDisposeAsync(ConnectionOptions options) =>
        OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { Connection = options }).Dispose());

    [Fact]
    public async Task StreamPeerThatNeverReadsIsAbortedAfterTheGracePeriod()
    {
        var closed = new TaskCompletionSource<(Exception? Error, long LifetimeNs, int Queued)>(TaskCreationOptions.RunContinuationsAsynchronously);
        long connectedNs = 0;
        int queuedAtStart = 0;
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                connectedNs = Loop.NowNanoseconds;
                LimitSocketBuffer(c);
                c.Write(new byte[ReplySize]);
                queuedAtStart = c.QueuedOutput;
            },
            onData: (_, _) => { },
            onClosed: (c, error) => closed.TrySetResult((error, Loop.NowNanoseconds - connectedNs, queuedAtStart)));
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, RateOptions()));
        using Socket client = await ConnectNonReaderAsync(server.LocalEndPoint);

        (Exception? error, long lifetimeNs, int queued) = await closed.Task.WaitAsync(Limit);
        Assert.True(queued > 0, "the reply fit in the socket buffers: nothing was queued to measure");
        AssertAbortedForRate(error, lifetimeNs);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection left the server");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PipePeerThatNeverReadsIsAbortedAfterTheGracePeriod()
    {
        var closed = new TaskCompletionSource<(Exception? Error, long LifetimeNs)>(TaskCreationOptions.RunContinuationsAsynchronously);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            long connectedNs = Loop.NowNanoseconds;
            LimitSocketBuffer(c);
            try
            {
                // FlushAsync waits at the output cap; the abort completes it (or the next one) with the reason.
                for (int written = 0; written < ReplySize; written += 64 * 1024)
                {
                    await c.Output.WriteAsync(new byte[64 * 1024]);
                }
                await c.Input.ReadAsync();
                closed.TrySetResult((null, Loop.NowNanoseconds - connectedNs));
            }
            catch (Exception ex)
            {
                closed.TrySetResult((ex, Loop.NowNanoseconds - connectedNs));
                throw;
            }
        }, RateOptions()));
        using Socket client = await ConnectNonReaderAsync(server.LocalEndPoint);

        (Exception? error, long lifetimeNs) = await closed.Task.WaitAsync(Limit);
        AssertAbortedForRate(error, lifetimeNs);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection left the server");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PeerThatNeverReadsRawSendsIsAbortedAfterTheGracePeriod()
    {
        // Applications that send on the descriptor themselves (sendfile) wait with NotifyWritable: the same rule holds.
        var closed = new TaskCompletionSource<(Exception? Error, long LifetimeNs)>(TaskCreationOptions.RunContinuationsAsynchronously);
        long connectedNs = 0;
        byte[] chunk = new byte[64 * 1024];
        void Pump(Connection c)
        {
            while (true)
            {
                long sent = Kevents.Native.NativeSocket.Send(c.Descriptor, chunk);
                if (sent <= 0)
                {
                    // EAGAIN: wait for room. (Any other error shows up as the close below.)
                    c.NotifyWritable(Pump);
                    return;
                }
                c.ReportSent(sent);
            }
        }
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                connectedNs = Loop.NowNanoseconds;
                LimitSocketBuffer(c);
                Pump(c);
            },
            onClosed: (_, error) => closed.TrySetResult((error, Loop.NowNanoseconds - connectedNs)));
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, RateOptions()));
        using Socket client = await ConnectNonReaderAsync(server.LocalEndPoint);

        (Exception? error, long lifetimeNs) = await closed.Task.WaitAsync(Limit);
        AssertAbortedForRate(error, lifetimeNs);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task PeerReadingSteadilyAboveTheMinimumIsNotAborted()
    {
        // The peer takes about 1 MB/s, six times the minimum, through small socket buffers, so the reply stays queued
        // for two measurement windows.
        const int Size = 2 * 1024 * 1024;
        StreamConnection? connection = null;
        Exception? closeError = null;
        int maxQueuedAfterGrace = 0;
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                connection = c;
                LimitSocketBuffer(c);
                c.Write(new byte[Size]);
                c.Close();
            },
            onData: (_, _) => { },
            onClosed: (_, error) => closeError = error);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, RateOptions()));
        using Socket client = await ConnectNonReaderAsync(server.LocalEndPoint);

        // The reading is done on a thread of its own (an awaited pacing delay stalled by a busy thread pool would be a
        // real rate dip, rightly judged); this thread only watches the server's queue.
        var clock = Stopwatch.StartNew();
        var received = new System.Runtime.CompilerServices.StrongBox<long>();
        using var never = new ManualResetEventSlim();
        Task<bool> reading = ReadAtRateAsync(client, 1_000_000, never, received);
        while (!reading.IsCompleted)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(1.5))
            {
                maxQueuedAfterGrace = Math.Max(maxQueuedAfterGrace, await OnLoop(() => connection!.IsClosed ? 0 : connection.QueuedOutput));
            }
            await Task.WhenAny(reading, Task.Delay(20));
        }
        Assert.False(await reading.WaitAsync(Limit), "the server reset a reader taking six times the minimum");
        long total = received.Value;
        Assert.Equal(Size, total);
        Assert.True(maxQueuedAfterGrace > 0, "output was never queued after the grace period: the rate was not exercised");
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the server closed after the reply");
        Assert.Null(closeError);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task ReadersAtTwiceTheMinimumAreKeptAndAtHalfAreAbortedWhateverTheKernelBuffers()
    {
        // Three endless downloads on one server, read at 0.5x, 2x and 20x the minimum. The server's send buffers are
        // megabytes (asked for here, so the test does not depend on autotuning, which gives the same on a busy link),
        // and Linux reports a socket writable only after a third of its buffer has drained: seconds apart for the slow
        // readers. Counting only what the kernel accepted (the old rule) judged the 2x reader to take 0 B/s and aborted
        // it after the first window. (Where net.core.wmem_max caps the buffer lower, the old rule may pass too; the
        // new one must pass everywhere.)
        const double Minimum = 160 * 1024; // windows of the grace period: 1.5 s (see ConnectionOptions.MinResponseDataRate)
        byte[] chunk = new byte[256 * 1024];
        // Writes until the connection's own queue reaches its cap (the kernel took what it could): OnDrained refills it
        // at the resume level, so the queue never empties and the output stays stalled and judged throughout.
        void Fill(StreamConnection c)
        {
            for (int i = 0; i < 64 && !c.IsWriterPaused && !c.IsClosed; i++)
            {
                c.Write(chunk);
            }
        }
        var connections = new Dictionary<int, StreamConnection>();
        var closedByPort = new System.Collections.Concurrent.ConcurrentDictionary<int, TaskCompletionSource<Exception?>>();
        TaskCompletionSource<Exception?> ClosedOf(Socket client) =>
            closedByPort.GetOrAdd(((IPEndPoint)client.LocalEndPoint!).Port, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                int port = ((IPEndPoint)c.RemoteEndPoint!).Port;
                c.State = port;
                connections[port] = c;
                Assert.Equal(0, Kevents.Native.NativeSocket.SetSendBufferSize(c.Descriptor, 4 * 1024 * 1024));
                Fill(c);
            },
            onData: (_, _) => { },
            onClosed: (c, error) => closedByPort.GetOrAdd((int)c.State!, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(error),
            onDrained: Fill);
        var options = new ServerOptions
        {
            Connection = new ConnectionOptions
            {
                MinResponseDataRate = Minimum,
                MinResponseDataRateGracePeriod = TimeSpan.FromSeconds(1.5),
                IdleTimeout = TimeSpan.FromSeconds(30),
            },
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options));
        using Socket half = await ConnectFixedWindowClientAsync(server.LocalEndPoint);
        using Socket twice = await ConnectFixedWindowClientAsync(server.LocalEndPoint);
        using Socket fast = await ConnectFixedWindowClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => connections.Count == 3), "all three were accepted");

        using var stop = new ManualResetEventSlim();
        var clock = Stopwatch.StartNew();
        Task<bool> halfReset = ReadAtRateAsync(half, Minimum * 0.5, stop);
        Task<bool> twiceReset = ReadAtRateAsync(twice, Minimum * 2, stop);
        Task<bool> fastReset = ReadAtRateAsync(fast, Minimum * 20, stop);

        // The 0.5x reader goes within two windows; the others must outlive at least two full windows.
        Exception? halfError = await ClosedOf(half).Task.WaitAsync(Limit);
        TimeSpan rest = TimeSpan.FromSeconds(3.5) - clock.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest);
        }
        Assert.False(ClosedOf(twice).Task.IsCompleted, "the 2x reader was aborted");
        Assert.False(ClosedOf(fast).Task.IsCompleted, "the 20x reader was aborted");
        stop.Set();
        // The reset reaches the 0.5x reader behind the data its receive buffer still holds.
        Assert.True(await halfReset.WaitAsync(Limit) || (await ReceiveToEndAsync(half)).Reset, "the 0.5x reader was not reset");
        Assert.False(await twiceReset.WaitAsync(Limit));
        Assert.False(await fastReset.WaitAsync(Limit));
        Assert.Contains("too slowly", Assert.IsType<ConnectionAbortedException>(halfError).Message);
        await OnLoop(server.Dispose);
    }

    /// <summary>
    /// A client with a fixed 256 KiB receive buffer: without one, Linux grows a reader's buffer to tens of megabytes,
    /// which soaks up the server's output and hides how long its own send buffer takes to drain.
    /// </summary>
    private static async Task<Socket> ConnectFixedWindowClientAsync(EndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 256 * 1024 };
        await socket.ConnectAsync(endPoint).WaitAsync(Limit);
        return socket;
    }

    /// <summary>
    /// Reads at <paramref name="bytesPerSecond"/> on average (catching up after a late wake-up) until
    /// <paramref name="stop"/> is set or the stream ends, on a thread of its own so a busy thread pool cannot slow it;
    /// true when the server reset the connection. <paramref name="count"/>, when given, follows the bytes received.
    /// </summary>
    private static Task<bool> ReadAtRateAsync(Socket socket, double bytesPerSecond, ManualResetEventSlim stop,
        System.Runtime.CompilerServices.StrongBox<long>? count = null)
    {
        return ClientSockets.OnThreadOfItsOwn($"reader at {bytesPerSecond:F0} B/s", () =>
        {
            try
            {
                socket.ReceiveTimeout = 100;
                var clock = Stopwatch.StartNew();
                byte[] buffer = new byte[64 * 1024];
                long received = 0;
                while (!stop.IsSet)
                {
                    long allowed = (long)(clock.Elapsed.TotalSeconds * bytesPerSecond) - received;
                    if (allowed < 512)
                    {
                        stop.Wait(10);
                        continue;
                    }
                    try
                    {
                        int n = socket.Receive(buffer, 0, (int)Math.Min(allowed, buffer.Length), SocketFlags.None);
                        if (n == 0)
                        {
                            break;
                        }
                        received += n;
                        if (count is not null)
                        {
                            count.Value = received;
                        }
                    }
                    catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
                    {
                    }
                }
                return false;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                return true;
            }
        });
    }

    [Fact]
    public async Task IdleConnectionWithNothingQueuedIsGovernedOnlyByTheIdleTimeout()
    {
        // The rate check's window (250 ms) is far shorter than the idle timeout: with nothing queued it must not act.
        var closed = new TaskCompletionSource<(Exception? Error, long LifetimeNs)>(TaskCreationOptions.RunContinuationsAsynchronously);
        long lastDataNs = 0;
        var handler = new CallbackHandler(
            onConnected: _ => lastDataNs = Loop.NowNanoseconds,
            onData: (c, d) =>
            {
                lastDataNs = Loop.NowNanoseconds;
                c.Write(d);
            },
            onClosed: (_, error) => closed.TrySetResult((error, Loop.NowNanoseconds - lastDataNs)));
        var options = new ServerOptions
        {
            Connection = new ConnectionOptions
            {
                MinResponseDataRate = 1_000_000,
                MinResponseDataRateGracePeriod = TimeSpan.FromMilliseconds(250),
                IdleTimeout = TimeSpan.FromMilliseconds(1500),
            },
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await ReceiveExactlyAsync(client, 4));

        (Exception? error, long idleNs) = await closed.Task.WaitAsync(Limit);
        Assert.IsType<ConnectionAbortedException>(error);
        Assert.Contains("idle", error!.Message);
        Assert.True(idleNs >= 1_500_000_000, $"closed {idleNs / 1_000_000} ms after the last traffic");
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name == "ResponseRateTooLow");
        await OnLoop(server.Dispose);
    }

    /// <summary>
    /// A fixed 32 KiB send buffer (the kernel doubles it) on the server's side: loopback autotuning would otherwise let
    /// the kernel absorb megabytes, and how much varies from machine to machine.
    /// </summary>
    private static void LimitSocketBuffer(Connection connection) =>
        Assert.Equal(0, Kevents.Native.NativeSocket.SetSendBufferSize(connection.Descriptor, 32 * 1024));

    /// <summary>A client with a small receive window that reads nothing until the test says so.</summary>
    private static async Task<Socket> ConnectNonReaderAsync(EndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // Set before connecting, so the window the peer sees is small from the first segment.
        socket.ReceiveBufferSize = 32 * 1024;
        await socket.ConnectAsync(endPoint).WaitAsync(Limit);
        return socket;
    }

    private void AssertAbortedForRate(Exception? error, long lifetimeNs)
    {
        var aborted = Assert.IsType<ConnectionAbortedException>(error);
        Assert.Contains("too slowly", aborted.Message);
        // Never before the grace period; well before the 30 s idle timeout, within two windows plus slack.
        Assert.True(lifetimeNs >= 1_000_000_000, $"aborted after {lifetimeNs / 1_000_000} ms, inside the grace period");
        Assert.True(lifetimeNs < 5_000_000_000, $"aborted only after {lifetimeNs / 1_000_000} ms");
        Assert.Contains(Logs.Entries, e => e.Level == LogLevel.Debug && e.EventId.Name == "ResponseRateTooLow");
    }
}
