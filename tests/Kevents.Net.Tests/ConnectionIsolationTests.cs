using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Native;
using Kevents.Net;
using Microsoft.Extensions.Logging;

namespace Kevents.Tests;

/// <summary>
/// One connection's failure stays with that connection: application mistakes, failures while a connection is being
/// set up, and aborts from anywhere close it at once (a reset), leave the server's count, and never reach the loop,
/// the thread pool, or the other connections.
/// </summary>
public class ConnectionIsolationTests : NetTest
{
    static ConnectionIsolationTests()
    {
        // The first exception a process formats loads the stack-trace machinery and keeps files open for good; do it
        // before any test takes its descriptor baseline.
        try
        {
            throw new InvalidOperationException("warm-up");
        }
        catch (InvalidOperationException ex)
        {
            _ = ex.ToString();
        }
    }

    private static readonly ServerOptions NoTimeouts = new()
    {
        Connection = new ConnectionOptions { IdleTimeout = Timeout.InfiniteTimeSpan, MinResponseDataRate = null },
    };

    [Fact]
    public async Task OutputCompletedWithErrorAfterFireAndForgetFlushesNeverReachesTheThreadPool()
    {
        // Issue 8 item 1: the application queues more than the peer takes with flushes it does not await, completes
        // Output with an error and returns. Closing it used to read the failed pipe in the completion's continuation,
        // and the exception was rethrown on the thread pool, ending the process.
        AllowWarnings = true;
        var unhandled = new List<object>();
        UnhandledExceptionEventHandler onUnhandled = (_, e) => { lock (unhandled) unhandled.Add(e.ExceptionObject); };
        AppDomain.CurrentDomain.UnhandledException += onUnhandled;
        try
        {
            byte[] chunk = new byte[16 * 1024];
            SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
            {
                ReadResult first = await c.Input.ReadAsync();
                bool slow = first.Buffer.FirstSpan[0] == (byte)'s';
                c.Input.AdvanceTo(slow ? first.Buffer.End : first.Buffer.Start);
                if (!slow)
                {
                    await PipeEcho.RunAsync(c);
                    return;
                }
                for (int i = 0; i < 64; i++)
                {
                    c.Output.Write(chunk);
                    _ = c.Output.FlushAsync();
                }
                await Task.Yield();
                c.Output.Complete(new InvalidDataException("the application gave up"));
            }, NoTimeouts));
            using Socket good = await ConnectClientAsync(server.LocalEndPoint);
            using Socket slowClient = await ConnectClientAsync(server.LocalEndPoint);
            slowClient.ReceiveBufferSize = 4096;
            await slowClient.SendAsync("s"u8.ToArray());

            (_, bool reset) = await ReceiveToEndAsync(slowClient);
            Assert.True(reset, "the peer of a connection whose Output failed must see a reset");
            await good.SendAsync("g!"u8.ToArray());
            Assert.Equal("g!"u8.ToArray(), await ReceiveExactlyAsync(good, 2));
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the failed connection left the count");
            await Task.Delay(100);
            lock (unhandled)
            {
                Assert.Empty(unhandled);
            }
            Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name is "HandlerFailed" or "PostedWorkFailed" or "ConnectionFailed");
            Assert.DoesNotContain(Logs.Entries, e => e.Level >= LogLevel.Warning);
            await OnLoop(server.Dispose);
        }
        finally
        {
            AppDomain.CurrentDomain.UnhandledException -= onUnhandled;
        }
    }

    [Fact]
    public async Task FailureWhileSendingAbortsOnlyThatConnectionAndIsLoggedOnceAsKeventsFailure()
    {
        // Issue 8 item 1, the rule itself: a failure in the transport (here the loop refusing the Write filter when
        // the peer's window fills) aborts that connection, is logged once with its id as Kevents.Net's failure (not
        // as "posted work threw", not as the application's), and every other connection goes on.
        AllowWarnings = true;
        long failedId = -1;
        int stalledFd = -1;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult first = await c.Input.ReadAsync();
            bool big = first.Buffer.FirstSpan[0] == (byte)'b';
            c.Input.AdvanceTo(big ? first.Buffer.End : first.Buffer.Start);
            if (!big)
            {
                await PipeEcho.RunAsync(c);
                return;
            }
            failedId = c.Id;
            Volatile.Write(ref stalledFd, c.Descriptor);
            c.Output.Write(new byte[4 * 1024 * 1024]);
            await c.Output.FlushAsync();
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { });
        }, NoTimeouts));
        // The loop refuses to watch the stalled connection for writability (ENOSPC: what epoll_ctl returns past
        // fs.epoll.max_user_watches). Its Read registration came first, so the next epoll_ctl on it is that one.
        var plan = new FaultPlan { Descriptors = fd => fd == Volatile.Read(ref stalledFd) }.Fail(FaultSite.EpollControl, Errno.ENOSPC, 1, budget: 1);
        IDisposable armed = FaultInjection.Arm(plan);
        try
        {
            using Socket good = await ConnectClientAsync(server.LocalEndPoint);
            using Socket stalled = await ConnectClientAsync(server.LocalEndPoint);
            stalled.ReceiveBufferSize = 4096;
            await stalled.SendAsync("b"u8.ToArray());
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the failed connection left the count");
            (_, bool reset) = await ReceiveToEndAsync(stalled);
            Assert.True(reset);
            await good.SendAsync("ok"u8.ToArray());
            Assert.Equal("ok"u8.ToArray(), await ReceiveExactlyAsync(good, 2));
        }
        finally
        {
            armed.Dispose();
        }
        Assert.Equal(1, plan.Injected(FaultSite.EpollControl));
        long id = await OnLoop(() => failedId);
        var failures = Logs.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        var failure = Assert.Single(failures);
        Assert.Equal("ConnectionFailed", failure.EventId.Name);
        Assert.Contains($"Connection {id}:", failure.Message);
        Assert.IsType<IOException>(failure.Exception);
        Assert.Contains("max_user_watches", failure.Exception!.Message);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task ApplicationOutputCompletedWithErrorResetsAtOnce()
    {
        // Issue 8 item 2: the application completes Output with an error while its queued output waits for a peer
        // that stopped reading, and goes on running. Nothing times out here: only the error can end the connection.
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult first = await c.Input.ReadAsync();
            c.Input.AdvanceTo(first.Buffer.End);
            c.Output.Write(new byte[4 * 1024 * 1024]);
            _ = c.Output.FlushAsync();
            await Task.Yield();
            c.Output.Complete(new InvalidDataException("cannot produce the rest"));
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { });
        }, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        client.ReceiveBufferSize = 4096;
        await client.SendAsync("x"u8.ToArray());
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection closed");
        (byte[] data, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset, "an application error must reach the peer as a reset, not a clean end");
        Assert.True(data.Length < 4 * 1024 * 1024);
        Assert.Contains(Logs.Entries, e => e.EventId.Name == "ApplicationCompletedWithError" && e.Exception is InvalidDataException);
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task ApplicationInputCompletedWithErrorResetsAtOnce()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult first = await c.Input.ReadAsync();
            c.Input.AdvanceTo(first.Buffer.End);
            c.Input.Complete(new InvalidDataException("malformed request"));
            await Task.Delay(Timeout.Infinite, c.ConnectionClosed).ContinueWith(_ => { });
        }, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("x"u8.ToArray());
        (_, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection left the count");
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name is "HandlerFailed" or "PostedWorkFailed");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task AbortInsideALoopOverConnectionsNeverReentersTheApplication()
    {
        // Issue 8 item 6: each application removes its connection from the list when it ends. Abort used to complete
        // the pipes inside the call, running that removal under the foreach ("Collection was modified").
        var clients = new List<PipeConnection>();
        var ended = new List<Exception?>();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            clients.Add(c);
            try
            {
                while (true)
                {
                    ReadResult result = await c.Input.ReadAsync();
                    c.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        break;
                    }
                }
                ended.Add(null);
            }
            catch (Exception ex)
            {
                ended.Add(ex);
            }
            finally
            {
                clients.Remove(c);
            }
        }, NoTimeouts));
        var sockets = new List<Socket>();
        for (int i = 0; i < 5; i++)
        {
            sockets.Add(await ConnectClientAsync(server.LocalEndPoint));
        }
        await WaitUntilAsync(() => OnLoop(() => clients.Count == 5), "all five applications started");

        int applicationsEndedInsideAbort = await OnLoop(() =>
        {
            foreach (PipeConnection c in clients)
            {
                c.Abort("test");
            }
            return ended.Count;
        });
        Assert.Equal(0, applicationsEndedInsideAbort);
        await WaitUntilAsync(() => OnLoop(() => ended.Count == 5 && clients.Count == 0 && server.ConnectionCount == 0), "every application saw its abort");
        Assert.All(await OnLoop(() => ended.ToArray()), e => Assert.IsType<ConnectionAbortedException>(e));
        foreach (Socket s in sockets)
        {
            (_, bool reset) = await ReceiveToEndAsync(s);
            Assert.True(reset);
            s.Dispose();
        }
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task StreamHandlerAbortedInsideALoopHearsOfItAfterwards()
    {
        var live = new List<StreamConnection>();
        int closed = 0;
        var handler = new CallbackHandler(
            onConnected: c => live.Add(c),
            onClosed: (c, _) =>
            {
                live.Remove(c);
                closed++;
            });
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket a = await ConnectClientAsync(server.LocalEndPoint);
        using Socket b = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => live.Count == 2), "both accepted");
        int closedInside = await OnLoop(() =>
        {
            foreach (StreamConnection c in live)
            {
                c.Abort();
            }
            return closed;
        });
        Assert.Equal(0, closedInside);
        await WaitUntilAsync(() => OnLoop(() => closed == 2 && server.ConnectionCount == 0), "both handlers heard of the abort");
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task AbortAfterTheLoopIsDisposedClosesTheSocketExactlyOnce()
    {
        // Issue 8 item 6: Abort from another thread once the loop is gone used to throw ObjectDisposedException and
        // leave the descriptor to the finalizer. Two threads abort at once: the handler must hear of it exactly once.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(TestUtil.AnyLoopback());
        listener.Listen();
        int closed = 0;
        Exception? closeError = null;
        var handler = new CallbackHandler(onClosed: (_, e) =>
        {
            closeError = e;
            Interlocked.Increment(ref closed);
        });
        var loop = new EventLoop(new EventLoopOptions { Name = "disposed-under-abort", Backend = Backend });
        Task running = loop.RunAsync();
        StreamConnection connection = await loop.ConnectAsync(listener.LocalEndPoint!, handler).WaitAsync(Limit);
        using Socket peer = await listener.AcceptAsync().WaitAsync(Limit);
        loop.Stop();
        await running.WaitAsync(Limit);
        loop.Dispose();

        using var start = new Barrier(2);
        Thread[] aborters = Enumerable.Range(0, 2).Select(_ => StartThread(() =>
        {
            start.SignalAndWait();
            connection.Abort("after dispose");
        })).ToArray();
        JoinAll(aborters);

        Assert.True(connection.IsClosed);
        Assert.Equal(-1, connection.Descriptor);
        (_, bool reset) = await ReceiveToEndAsync(peer);
        Assert.True(reset, "the socket must be closed by Abort (with a reset), not by a finalizer some day");
        var deadline = DateTime.UtcNow + Limit;
        while (Volatile.Read(ref closed) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }
        await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref closed));
        Assert.IsType<ConnectionAbortedException>(closeError);
    }

    [Fact]
    public async Task AbortsFromManyThreadsRacingLoopDisposeCloseEachSocketOnce()
    {
        // Abort "from any thread at any time": four threads abort every connection while the loop is being disposed.
        // No call may throw, every peer sees a reset, and no handler hears of its close twice.
        const int Connections = 24;
        var closes = new System.Collections.Concurrent.ConcurrentDictionary<StreamConnection, int>();
        var live = new System.Collections.Concurrent.ConcurrentQueue<StreamConnection>();
        var handler = new CallbackHandler(
            onConnected: c => live.Enqueue(c),
            onClosed: (c, _) => closes.AddOrUpdate(c, 1, (_, n) => n + 1));
        var loop = new EventLoop(new EventLoopOptions { Name = "aborts-racing-dispose", Backend = Backend });
        Task running = loop.RunAsync();
        SocketServer server = await loop.InvokeAsync(() => loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < Connections; i++)
            {
                clients.Add(await ConnectClientAsync(server.LocalEndPoint));
            }
            await WaitUntilAsync(() => Task.FromResult(live.Count == Connections), "all accepted");
            StreamConnection[] all = live.ToArray();
            using var start = new Barrier(5);
            Thread[] aborters = Enumerable.Range(0, 4).Select(t => StartThread(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < all.Length; i++)
                {
                    all[(i + t * 7) % all.Length].Abort("racing dispose");
                }
            })).ToArray();
            start.SignalAndWait();
            loop.Stop();
            await running.WaitAsync(Limit);
            loop.Dispose();
            JoinAll(aborters);

            Assert.All(all, c => Assert.True(c.IsClosed));
            Assert.Equal(0, server.ConnectionCount);
            foreach (Socket client in clients)
            {
                (_, bool reset) = await ReceiveToEndAsync(client);
                Assert.True(reset);
            }
            await Task.Delay(100);
            Assert.All(closes.Values, n => Assert.Equal(1, n));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
            server.Dispose();
        }
    }

    [Fact]
    public async Task DisposingTheLoopUnderALiveServerClosesItsConnectionsAndListener()
    {
        // Issue 8 item 6, the same rule from the other side: a loop disposed while its server still serves must not
        // leave the sockets to the finalizer (the peer would see nothing until a GC).
        int closed = 0;
        Exception? closeError = null;
        var handler = new CallbackHandler(onClosed: (_, e) =>
        {
            closeError = e;
            Interlocked.Increment(ref closed);
        });
        var loop = new EventLoop(new EventLoopOptions { Name = "disposed-under-server", Backend = Backend });
        Task running = loop.RunAsync();
        SocketServer server = await loop.InvokeAsync(() => loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => loop.InvokeAsync(() => server.ConnectionCount == 1), "accepted");
        loop.Stop();
        await running.WaitAsync(Limit);
        loop.Dispose();

        (_, bool reset) = await ReceiveToEndAsync(client);
        Assert.True(reset, "the connection must be closed when its loop is disposed, not by a finalizer some day");
        Assert.Equal(0, server.ConnectionCount);
        Assert.False(server.IsListening);
        var deadline = DateTime.UtcNow + Limit;
        while (Volatile.Read(ref closed) == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }
        Assert.Equal(1, Volatile.Read(ref closed));
        Assert.IsType<ConnectionAbortedException>(closeError);
        server.Dispose();
    }

    [Fact]
    public async Task ConnectionWhoseOnConnectedThrowsClosesAndLeavesTheCountAtOnce()
    {
        // Issue 8 item 7: a failure after the server counted the connection used to leave it open and counted until
        // the idle timeout (here: for ever).
        int closed = 0;
        var handler = new CallbackHandler(
            onConnected: _ => throw new InvalidOperationException("cannot serve this one"),
            onClosed: (_, _) => closed++);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler, NoTimeouts));
        AllowWarnings = true;
        Assert.True(await ConnectExpectingResetAsync(server.LocalEndPoint));
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0 && closed == 1), "the connection left the count");
        Assert.Contains(Logs.Entries, e => e.EventId.Name == "ApplicationFailed" && e.Exception is InvalidOperationException);
        Assert.DoesNotContain(Logs.Entries, e => e.EventId.Name == "HandlerFailed");
        await OnLoop(server.Dispose);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ConnectionTheLoopCannotWatchClosesAndLeavesTheCountAtOnce(bool pipes)
    {
        AllowWarnings = true;
        bool applicationStarted = false;
        SocketServer server = await OnLoop(() => pipes
            ? Loop.ListenTcp(TestUtil.AnyLoopback(), c =>
            {
                applicationStarted = true;
                return PipeEcho.RunAsync(c);
            }, NoTimeouts)
            : Loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(onConnected: _ => applicationStarted = true), NoTimeouts));
        // ENOSPC: what epoll_ctl returns past fs.epoll.max_user_watches. The listener is already watched, so the first
        // epoll_ctl from here on is the new connection's.
        var plan = new FaultPlan().Fail(FaultSite.EpollControl, Errno.ENOSPC, 1, budget: 1);
        using (FaultInjection.Arm(plan))
        {
            Assert.True(await ConnectExpectingResetAsync(server.LocalEndPoint));
            await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 0), "the connection left the count");
        }
        Assert.Equal(1, plan.Injected(FaultSite.EpollControl));
        Assert.False(await OnLoop(() => applicationStarted), "no application runs for a connection that never started");
        Assert.Contains(Logs.Entries, e => e.EventId.Name == "ConnectionStartFailed" && e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase));
        using Socket next = await ConnectClientAsync(server.LocalEndPoint);
        await WaitUntilAsync(() => OnLoop(() => server.ConnectionCount == 1), "the next connection is served");
        await OnLoop(server.Dispose);
    }

    /// <summary>Dedicated threads: blocking barrier waits on pool threads would starve a 2-core pool for seconds.</summary>
    private static Thread StartThread(Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true };
        thread.Start();
        return thread;
    }

    private static void JoinAll(Thread[] threads)
    {
        foreach (Thread thread in threads)
        {
            Assert.True(thread.Join(Limit), "an aborting thread did not finish");
        }
    }

    /// <summary>
    /// Connects and reads to the end; true when the server reset the connection. A reset that comes before the
    /// client's connect has completed fails the connect itself, which counts too.
    /// </summary>
    private static async Task<bool> ConnectExpectingResetAsync(System.Net.EndPoint endPoint)
    {
        try
        {
            using Socket client = await ConnectClientAsync(endPoint);
            (_, bool reset) = await ReceiveToEndAsync(client);
            return reset;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }
}
