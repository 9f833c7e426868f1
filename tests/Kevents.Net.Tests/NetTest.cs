using System.Net;
using System.Net.Sockets;

namespace Kevents.Tests;

/// <summary>
/// Base of the socket tests: a loop running on its own thread, helpers to run code on it, and the leak gate
/// on dispose (loop disposed, fds back to baseline, nothing logged above Information unless a test expects it).
/// </summary>
public abstract class NetTest : RunningLoopTest
{
    /// <summary>Whether connections on an io_uring loop send through the ring (null: the loop's default); a constant, like <see cref="RunningLoopTest.Backend"/>.</summary>
    protected virtual bool? RingSends => null;

    /// <summary>With ring sends: submit every this many connections' sends mid-turn (null: the loop's default); a constant.</summary>
    protected virtual int? RingSendBatch => null;

    protected override void Configure(EventLoopOptions options)
    {
        options.IoUringSends = RingSends;
        options.IoUringSendBatch = RingSendBatch;
    }

    protected CapturingLoggerProvider Logs => Gate.Logs;

    /// <summary>Set by tests that provoke warnings on purpose (descriptor exhaustion).</summary>
    protected bool AllowWarnings
    {
        get => Gate.AllowWarnings;
        set => Gate.AllowWarnings = value;
    }

    /// <summary>Starts an async flow on the loop thread (its awaits resume there) and returns its result.</summary>
    protected Task<T> OnLoopAsync<T>(Func<Task<T>> work) => Loop.InvokeAsync(work);

    protected static async Task<Socket> ConnectClientAsync(EndPoint endPoint)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint).WaitAsync(Limit);
        return socket;
    }

    protected static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        byte[] buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None).AsTask().WaitAsync(Limit);
            if (n == 0)
            {
                throw new EndOfStreamException($"peer closed after {received} of {count} bytes");
            }
            received += n;
        }
        return buffer;
    }

    /// <summary>Reads until the peer closes; returns what arrived (a reset ends it too, reported by the flag).</summary>
    protected static async Task<(byte[] Data, bool Reset)> ReceiveToEndAsync(Socket socket) =>
        await ClientSockets.ReceiveUntilClosedAsync(socket, Limit);

    protected static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, Func<Task<string>>? state = null)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}." + (state is null ? "" : $" At the end: {await state()}."));
            }
            await Task.Delay(5);
        }
    }
}
