using System.Collections.Concurrent;
using System.Net.Sockets;
using CsCheck;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// <see cref="Connection.Abort"/> from other threads under many random interleavings (CsCheck): a random number of
/// connections, of aborting threads, of aborts each, racing the loop's Stop and Dispose at a random moment, on both
/// APIs. No call throws, every connection closes exactly once and leaves the process (the leak gate checks the
/// descriptors and pooled buffers), and every peer sees its connection end.
/// </summary>
public sealed class AbortConcurrencyTests : GatedTest
{
    private static readonly ServerOptions NoTimeouts = new()
    {
        Connection = new ConnectionOptions { IdleTimeout = Timeout.InfiniteTimeSpan, MinResponseDataRate = null },
    };

    static AbortConcurrencyTests() => RuntimeWarmUp.Sockets();

    [Fact]
    public void AbortsFromRandomThreadsRacingStopAndDisposeCloseEachConnectionOnce()
    {
        Gen.Select(Gen.Int[1, 12], Gen.Int[1, 4], Gen.Int[0, 20_000], Gen.Bool).Sample((connections, threads, delay, pipes) =>
        {
            var closes = new ConcurrentDictionary<Connection, int>();
            var live = new ConcurrentQueue<Connection>();
            var failures = new ConcurrentQueue<Exception>();
            var loop = new EventLoop(new EventLoopOptions { Name = "abort-race" });
            Task running = loop.RunAsync();
            SocketServer server = loop.InvokeAsync(() => pipes
                ? loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
                {
                    live.Enqueue(c);
                    try
                    {
                        await c.Input.ReadAsync();
                    }
                    catch (Exception)
                    {
                        // The abort ends the read: that is the point.
                    }
                    finally
                    {
                        closes.AddOrUpdate(c, 1, (_, n) => n + 1);
                    }
                }, NoTimeouts)
                : loop.ListenTcp(TestUtil.AnyLoopback(), new CallbackHandler(
                    onConnected: c => live.Enqueue(c),
                    onClosed: (c, _) => closes.AddOrUpdate(c, 1, (_, n) => n + 1)), NoTimeouts)).GetAwaiter().GetResult();
            var clients = new List<Socket>();
            try
            {
                for (int i = 0; i < connections; i++)
                {
                    var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    client.Connect(server.LocalEndPoint);
                    clients.Add(client);
                }
                DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
                while (live.Count < connections && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(1);
                }
                Connection[] all = live.ToArray();
                var aborters = Enumerable.Range(0, threads).Select(t => new Thread(() =>
                {
                    for (int i = 0; i < all.Length; i++)
                    {
                        try
                        {
                            all[(i * (t + 1)) % all.Length].Abort("racing");
                        }
                        catch (Exception ex)
                        {
                            failures.Enqueue(ex);
                        }
                        Thread.SpinWait(delay / 8);
                    }
                })).ToList();
                aborters.ForEach(a => a.Start());
                Thread.SpinWait(delay);
                loop.Stop();
                running.Wait(TimeSpan.FromSeconds(10));
                loop.Dispose();
                aborters.ForEach(a => a.Join());

                bool ended = clients.All(c =>
                {
                    c.ReceiveTimeout = 5000;
                    try
                    {
                        return c.Receive(new byte[1]) == 0;
                    }
                    catch (SocketException ex)
                    {
                        return ex.SocketErrorCode == SocketError.ConnectionReset;
                    }
                });
                deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
                while (closes.Count < all.Length && DateTime.UtcNow < deadline)
                {
                    Thread.Sleep(1);
                }
                Assert.True(failures.IsEmpty, $"an abort threw: {failures.FirstOrDefault()}");
                Assert.Equal(connections, all.Length);
                Assert.True(all.All(c => c.IsClosed), "a connection is still open");
                Assert.True(ended, "a peer never saw its connection end");
                Assert.True(closes.Count == all.Length && closes.Values.All(n => n == 1),
                    $"{closes.Count} of {all.Length} connections told of their close, counts {string.Join(",", closes.Values)}");
            }
            finally
            {
                clients.ForEach(c => c.Dispose());
                server.Dispose();
            }
        }, iter: 150, threads: 1);
    }
}
