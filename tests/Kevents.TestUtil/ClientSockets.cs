using System.Net.Sockets;

namespace Kevents.Tests;

/// <summary>Reads on a test's client socket, each bounded so a server that never answers fails the test.</summary>
public static class ClientSockets
{
    /// <summary>
    /// Reads until the peer closes the connection, each read bounded by <paramref name="limit"/>; returns what arrived
    /// and whether it ended in a reset rather than a FIN.
    /// </summary>
    public static async Task<(byte[] Bytes, bool Reset)> ReceiveUntilClosedAsync(Socket socket, TimeSpan limit)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(limit);
                if (n == 0)
                {
                    return (all.ToArray(), false);
                }
                all.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (all.ToArray(), true);
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a thread of its own and completes with its result or its exception (one thrown
    /// on such a thread would end the test process). For client work that must keep time while a server's timeout is
    /// watching: the continuation of an awaited delay waits for a thread-pool thread, and on a busy CI machine that
    /// wait has stretched a 100 ms pause past a server's one-second idle timeout.
    /// </summary>
    public static Task<T> OnThreadOfItsOwn<T>(string name, Func<T> body)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(body());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        }) { IsBackground = true, Name = name };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// Sends <paramref name="request"/> <paramref name="times"/> times, <paramref name="pause"/> apart, reading
    /// <paramref name="replyLength"/> bytes after each, on a thread of its own (see <see cref="OnThreadOfItsOwn"/>).
    /// Completes with the replies, or with the socket's failure.
    /// </summary>
    public static Task<List<byte[]>> KeepTalkingAsync(Socket socket, byte[] request, int replyLength, int times, TimeSpan pause, TimeSpan limit) =>
        OnThreadOfItsOwn("test client", () =>
        {
            socket.ReceiveTimeout = (int)limit.TotalMilliseconds;
            var replies = new List<byte[]>(times);
            for (int i = 0; i < times; i++)
            {
                socket.Send(request);
                byte[] reply = new byte[replyLength];
                int got = 0;
                while (got < reply.Length)
                {
                    int n = socket.Receive(reply, got, reply.Length - got, SocketFlags.None);
                    if (n == 0)
                    {
                        throw new IOException($"the server closed the connection after {i} replies");
                    }
                    got += n;
                }
                replies.Add(reply);
                Thread.Sleep(pause);
            }
            return replies;
        });

    /// <summary>
    /// Sends <paramref name="piece"/> <paramref name="times"/> times on a fixed schedule, one every
    /// <paramref name="interval"/> (a late wake-up is caught up, not carried forward), on a thread of its own (see
    /// <see cref="OnThreadOfItsOwn"/>). Completes when the last piece is sent, or with the failure.
    /// </summary>
    public static Task SendPacedAsync(Socket socket, byte[] piece, int times, TimeSpan interval) =>
        OnThreadOfItsOwn("paced sender", () =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 1; i <= times; i++)
            {
                socket.Send(piece);
                TimeSpan due = interval * i;
                if (clock.Elapsed < due)
                {
                    Thread.Sleep(due - clock.Elapsed);
                }
            }
            return true;
        });
}
