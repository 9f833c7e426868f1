using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Kevents.Tests;

/// <summary>
/// Base of the tests that host one server on a loop of their own, bound to loopback port 0, and talk to it over
/// client sockets: on disposal the server is drained and disposed (<see cref="StopServer"/>) before the loop is
/// stopped and the leak gate checked, so whatever the server left open counts against the test.
/// </summary>
public abstract class ServerTest : RunningLoopTest
{
    /// <summary>Where the server listens (throws until it is started).</summary>
    protected abstract IPEndPoint EndPoint { get; }

    /// <summary>Whether <see cref="ConnectAsync"/> turns Nagle off on the client socket.</summary>
    protected virtual bool ClientNoDelay => false;

    protected async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (ClientNoDelay)
        {
            socket.NoDelay = true;
        }
        await socket.ConnectAsync(EndPoint).WaitAsync(Limit);
        return socket;
    }

    protected static Task SendAsync(Socket socket, string text) =>
        socket.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None).WaitAsync(Limit);

    /// <summary>Sends <paramref name="request"/> on a fresh connection and reads until the server closes it.</summary>
    protected async Task<byte[]> RawExchangeAsync(string request)
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, request);
        return await ReceiveToEndAsync(socket);
    }

    /// <summary>Reads until the server closes the connection, by FIN or by reset; returns what arrived.</summary>
    protected static async Task<byte[]> ReceiveToEndAsync(Socket socket) => (await ReceiveUntilClosedAsync(socket)).Bytes;

    /// <summary>Reads until the server closes the connection; (what arrived, whether it ended in a reset).</summary>
    protected static Task<(byte[] Bytes, bool Reset)> ReceiveUntilClosedAsync(Socket socket) =>
        ClientSockets.ReceiveUntilClosedAsync(socket, Limit);

    /// <summary>Polls <paramref name="condition"/> on the loop thread until it holds; fails after <see cref="Limit"/>.</summary>
    protected async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow + Limit;
        while (!await OnLoop(condition))
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }
            await Task.Delay(5);
        }
    }

    /// <summary>Drains and disposes the server if one was started; called first on disposal.</summary>
    protected abstract void StopServer();

    /// <summary>
    /// What every server's <see cref="StopServer"/> does: <paramref name="shutdown"/> (its graceful drain, given two
    /// seconds) must finish within <see cref="Limit"/>, then <paramref name="server"/> is disposed on the loop thread.
    /// </summary>
    protected void DrainAndDispose(Func<TimeSpan, Task> shutdown, IDisposable server)
    {
        Assert.True(shutdown(TimeSpan.FromSeconds(2)).Wait(Limit), "the server did not drain");
        OnLoop(() =>
        {
            server.Dispose();
            return true;
        }).Wait(Limit);
    }

    public override void Dispose()
    {
        StopServer();
        base.Dispose();
    }
}

/// <summary>
/// <see cref="ServerTest"/> for HTTP servers: an <see cref="HttpClient"/> without proxy or decompression, and the
/// raw-socket helpers that read HTTP/1.1 responses.
/// </summary>
public abstract class HttpServerTest : ServerTest
{
    protected static HttpClient NewClient(int maxConnections = 16) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = maxConnections,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        Expect100ContinueTimeout = TimeSpan.FromSeconds(15),
    })
    {
        Timeout = Limit,
    };

    protected Uri BaseUri => new($"http://127.0.0.1:{EndPoint.Port}/");

    /// <summary>Reads until <paramref name="count"/> responses ending in <paramref name="marker"/> have arrived.</summary>
    protected static async Task<string> ReceiveUntilAsync(Socket socket, string marker, int count = 1)
    {
        var text = new StringBuilder();
        byte[] buffer = new byte[64 * 1024];
        while (CountOf(text.ToString(), marker) < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            Assert.True(n > 0, $"closed after: {text}");
            text.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }
        return text.ToString();
    }

    protected static int CountOf(string text, string marker)
    {
        int count = 0;
        for (int at = text.IndexOf(marker, StringComparison.Ordinal); at >= 0; at = text.IndexOf(marker, at + 1, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    /// <summary>
    /// Sends <paramref name="count"/> copies of <paramref name="request"/> in one pipeline on a fresh connection and
    /// reads until as many responses starting "HTTP/1.1 200 OK" have arrived (failing if the server closes first).
    /// Returns the number of bytes sent.
    /// </summary>
    protected async Task<int> ExchangePipelineAsync(string request, int count)
    {
        byte[] one = Encoding.Latin1.GetBytes(request);
        byte[] pipeline = new byte[one.Length * count];
        for (int i = 0; i < count; i++)
        {
            one.CopyTo(pipeline, i * one.Length);
        }
        using Socket socket = await ConnectAsync();
        Task<int> sending = socket.SendAsync(pipeline);
        int answers = 0;
        var tail = new StringBuilder();
        byte[] buffer = new byte[64 * 1024];
        while (answers < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(Limit);
            Assert.True(n > 0, $"closed after {answers} answers");
            tail.Append(Encoding.Latin1.GetString(buffer, 0, n));
            string text = tail.ToString();
            int at = 0, found;
            while ((found = text.IndexOf("HTTP/1.1 200 OK", at, StringComparison.Ordinal)) >= 0)
            {
                answers++;
                at = found + 1;
            }
            // Keep a tail as long as the marker, in case it was split between two reads.
            tail.Clear().Append(text.AsSpan(Math.Max(at, text.Length - 20)));
        }
        await sending;
        return pipeline.Length;
    }

    /// <summary>
    /// Sends <paramref name="bytes"/> one at a time, <paramref name="interval"/> apart, until they run out,
    /// <paramref name="answered"/> completes, or a send fails because the server closed the connection.
    /// </summary>
    protected static async Task TrickleAsync(Socket socket, byte[] bytes, Task answered, TimeSpan interval)
    {
        foreach (byte b in bytes)
        {
            if (answered.IsCompleted)
            {
                break;
            }
            try
            {
                await socket.SendAsync(new[] { b });
            }
            catch (SocketException)
            {
                break;
            }
            await Task.Delay(interval);
        }
    }

    /// <summary>The status code of the response at the start of <paramref name="response"/>.</summary>
    protected static int StatusOf(byte[] response)
    {
        string text = Encoding.Latin1.GetString(response, 0, Math.Min(response.Length, 64));
        Assert.StartsWith("HTTP/1.1 ", text);
        return int.Parse(text.AsSpan(9, 3));
    }
}
