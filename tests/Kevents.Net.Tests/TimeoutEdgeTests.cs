using System.Net;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Durations at the edges (docs/reliability.md): InfiniteTimeSpan and TimeSpan.MaxValue mean "never" wherever a timeout
/// is taken, nothing overflows into "at once", and what cannot be honoured is rejected naming the option.
/// </summary>
public class TimeoutEdgeTests : NetTest
{
    public static TheoryData<TimeSpan> Forever => new() { Timeout.InfiniteTimeSpan, TimeSpan.MaxValue };

    [Theory]
    [MemberData(nameof(Forever))]
    public async Task ShutdownWithANeverEndingDrainTimeoutNeverAbortsAConnection(TimeSpan drainTimeout)
    {
        // A pipe application that does not finish when its input completes: only the deadline could abort it.
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { });
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the connection was accepted");

        Task shutdown = await OnLoop(() => server.ShutdownAsync(drainTimeout));
        await Task.Delay(300);
        Assert.False(shutdown.IsCompleted, "the drain ended: the connection was aborted");
        Assert.Equal(1, await OnLoop(() => server.ConnectionCount));

        await OnLoop(server.Dispose);
        await shutdown.WaitAsync(Limit);
        (_, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset);
    }

    [Fact]
    public async Task ShutdownRejectsANegativeDrainTimeoutAndTakesZeroAsAbortNow()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { });
        }));
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = server.ShutdownAsync(TimeSpan.FromSeconds(-1)); });
        Assert.Equal("drainTimeout", ex.ParamName);
        Assert.True(await OnLoop(() => server.IsListening), "a refused shutdown must not have started");

        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the connection was accepted");
        await (await OnLoop(() => server.ShutdownAsync(TimeSpan.Zero))).WaitAsync(Limit);
        (_, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task ConnectWithAMaxValueTimeoutWaitsUntilCancelled()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        List<Socket> fillers = await LifecycleTests.FillBacklogAsync(listener);
        try
        {
            using var cts = new CancellationTokenSource();
            Task<PipeConnection> connecting = Loop.ConnectAsync(listener.LocalEndPoint!, TimeSpan.MaxValue, cancellationToken: cts.Token);
            await Task.Delay(300);
            Assert.False(connecting.IsCompleted, $"the connect ended at once: {connecting.Exception?.InnerException?.Message}");
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Limit));
        }
        finally
        {
            fillers.ForEach(f => f.Dispose());
        }
    }

    [Theory]
    [MemberData(nameof(Forever))]
    public async Task ANeverEndingGracePeriodNeverAbortsAStalledWrite(TimeSpan grace)
    {
        StreamConnection? connection = null;
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                connection = c;
                Assert.Equal(0, Kevents.Native.NativeSocket.SetSendBufferSize(c.Descriptor, 32 * 1024));
                c.Write(new byte[1024 * 1024]);
            });
        var options = new ServerOptions
        {
            Connection = new ConnectionOptions { MinResponseDataRate = 1_000_000, MinResponseDataRateGracePeriod = grace, IdleTimeout = TimeSpan.MaxValue },
        };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options));
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 32 * 1024 };
        using (client)
        {
            await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
            await WaitUntilAsync(() => OnLoop(() => connection is { QueuedOutput: > 0 }), "output is queued behind the full socket");
            await Task.Delay(300);
            Assert.False(await OnLoop(() => connection!.IsClosed), "the stalled write was aborted");
            Assert.Equal(1, await OnLoop(() => server.ConnectionCount));
        }
        await OnLoop(server.Dispose);
    }

    public static TheoryData<string, TimeSpan> BadConnectionTimeouts => new()
    {
        { nameof(ConnectionOptions.IdleTimeout), TimeSpan.Zero },
        { nameof(ConnectionOptions.IdleTimeout), TimeSpan.FromSeconds(-1) },
        { nameof(ConnectionOptions.InputIdleTimeout), TimeSpan.Zero },
        { nameof(ConnectionOptions.InputIdleTimeout), TimeSpan.MinValue },
        { nameof(ConnectionOptions.MinResponseDataRateGracePeriod), TimeSpan.Zero },
        { nameof(ConnectionOptions.MinResponseDataRateGracePeriod), TimeSpan.FromTicks(-1) },
    };

    [Theory]
    [MemberData(nameof(BadConnectionTimeouts))]
    public async Task ValidationRejectsZeroAndNegativeTimeoutsNamingTheOption(string option, TimeSpan value)
    {
        var options = new ConnectionOptions();
        typeof(ConnectionOptions).GetProperty(option)!.SetValue(options, value);
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { Connection = options }).Dispose()));
        Assert.Equal(option, ex.ParamName);
        Assert.Contains("ConnectionOptions." + option, ex.Message);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Loop.ConnectAsync(new IPEndPoint(IPAddress.Loopback, 1), options: options));
    }

    [Fact]
    public async Task EveryTimeoutAcceptsInfiniteAndMaxValue()
    {
        foreach (TimeSpan forever in new[] { Timeout.InfiniteTimeSpan, TimeSpan.MaxValue })
        {
            var options = new ServerOptions
            {
                DescriptorExhaustionPause = TimeSpan.MaxValue,
                Connection = new ConnectionOptions { IdleTimeout = forever, InputIdleTimeout = forever, MinResponseDataRateGracePeriod = forever },
            };
            await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), options).Dispose());
        }
        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { DescriptorExhaustionPause = Timeout.InfiniteTimeSpan }).Dispose()));
        Assert.Contains("ServerOptions.DescriptorExhaustionPause", ex.Message);
    }

    [Fact]
    public async Task InputIdleTimeoutDropsAPeerThatOnlyListensWhileIdleTimeoutKeepsIt()
    {
        // Every client is sent a broadcast every 20 ms (from the loop's own timer). The idle timeout (700 ms) never
        // fires, because output counts as activity; the input idle timeout (1 s) drops the client that never speaks,
        // and keeps the one that sends a heartbeat every 50 ms.
        const ulong BroadcastTimer = 0x5eed;
        var open = new List<StreamConnection>();
        var closed = new System.Collections.Concurrent.ConcurrentDictionary<int, (Exception? Error, long LifetimeNs)>();
        var startedNs = new Dictionary<StreamConnection, long>();
        var handler = new CallbackHandler(
            onConnected: c =>
            {
                open.Add(c);
                startedNs[c] = Loop.NowNanoseconds;
                c.State = ((IPEndPoint)c.RemoteEndPoint!).Port;
            },
            onData: (_, _) => { },
            onClosed: (c, error) =>
            {
                open.Remove(c);
                closed.TryAdd((int)c.State!, (error, Loop.NowNanoseconds - startedNs[c]));
            });
        var options = new ServerOptions
        {
            Connection = new ConnectionOptions { IdleTimeout = TimeSpan.FromMilliseconds(700), InputIdleTimeout = TimeSpan.FromSeconds(1) },
        };
        SocketServer server = await OnLoop(() =>
        {
            Loop.Register(Kevent.Timer(BroadcastTimer, TimeSpan.FromMilliseconds(20), periodic: true), (in Kevent _) =>
            {
                foreach (StreamConnection c in open.ToArray())
                {
                    c.Write("news\n"u8);
                }
            });
            return Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options);
        });
        using Socket listener = await ConnectClientAsync(server.LocalEndPoint);
        using var speaker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        int listenerPort = ((IPEndPoint)listener.LocalEndPoint!).Port;
        // A thread of its own, connecting and then beating with no thread-pool hop in between, so a busy thread pool
        // cannot make the heartbeat miss the 1 s timeout.
        using var stop = new ManualResetEventSlim();
        Task<bool> heartbeat = ClientSockets.OnThreadOfItsOwn("heartbeat", () =>
        {
            speaker.Connect(server.LocalEndPoint);
            do
            {
                speaker.Send("beat\n"u8);
            }
            while (!stop.Wait(50));
            return true;
        });

        await WaitUntilAsync(() => Task.FromResult(closed.ContainsKey(listenerPort)), "the silent listener was dropped");
        (Exception? error, long lifetimeNs) = closed[listenerPort];
        Assert.Contains("received nothing", Assert.IsType<ConnectionAbortedException>(error).Message);
        Assert.True(lifetimeNs >= 1_000_000_000, $"dropped after {lifetimeNs / 1_000_000} ms, before the input idle timeout");
        Assert.Contains(Logs.Entries, e => e.EventId.Name == "InputIdleTimeout");
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name == "IdleTimeout");
        (_, bool reset) = await ReceiveToEndAsync(listener);
        Assert.True(reset);
        await Task.Delay(500);
        Assert.Single(closed);
        stop.Set();
        await heartbeat.WaitAsync(Limit); // and the heartbeat never failed
        await OnLoop(() =>
        {
            Loop.Unregister(BroadcastTimer, KeventFilter.Timer);
            server.Dispose();
        });
    }

    [Fact]
    public async Task InputIdleTimeoutDoesNotCountTimeTheConnectionIsNotReading()
    {
        // One peer half-closes (its input is over, it waits for the reply), the other is not read because the
        // application paused input: neither silence is the peer's fault, so neither is dropped.
        var handler = new PatientHandler();
        var closed = handler.Closed;
        var options = new ServerOptions { Connection = new ConnectionOptions { InputIdleTimeout = TimeSpan.FromMilliseconds(500) } };
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, options));
        // Each peer acts right after its connect, with no awaited hop in between: the input idle clock starts at the
        // accept, and a continuation held back by a busy thread pool would let it run out before the peer acted.
        using var halfClosed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        halfClosed.Connect(server.LocalEndPoint);
        halfClosed.Shutdown(SocketShutdown.Send);
        using var paused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        paused.Connect(server.LocalEndPoint);
        paused.Send("x"u8);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 2), "both were accepted");

        await Task.Delay(1500);
        Assert.Empty(closed);
        Assert.Equal(2, await OnLoop(() => server.ConnectionCount));
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name == "InputIdleTimeout");
        await OnLoop(server.Dispose);
    }

    /// <summary>Pauses input at the first byte and keeps a half-closed connection open (it would answer later).</summary>
    private sealed class PatientHandler : IStreamHandler
    {
        public System.Collections.Concurrent.ConcurrentBag<Exception?> Closed { get; } = new();

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.PauseInput();

        public void OnEndOfStream(StreamConnection connection)
        {
        }

        public void OnClosed(StreamConnection connection, Exception? error) => Closed.Add(error);
    }
}
