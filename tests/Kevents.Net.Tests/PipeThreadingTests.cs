using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Input and Output skip their lock while only the loop uses them and take it once another thread does: an
/// application that starts on the loop and moves to its own thread mid-stream, while the loop keeps reading and
/// sending for it, loses, repeats and reorders nothing.
/// </summary>
public class PipeThreadingTests : NetTest
{
    private static byte[] Pattern(int length)
    {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 7) + (i >> 11));
        }
        return data;
    }

    private static void Echo(ReadOnlySequence<byte> buffer, PipeWriter output)
    {
        foreach (ReadOnlyMemory<byte> segment in buffer)
        {
            output.Write(segment.Span);
        }
    }

    [Fact]
    public async Task AnApplicationMovingToAnotherThreadMidStreamEchoesEveryByteInOrder()
    {
        const int onLoop = 64 * 1024;
        byte[] upload = Pattern(3 * 1024 * 1024);
        PipeConnection? connection = null;
        bool sharedBeforeMove = true;
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            connection = c;
            long echoed = 0;
            // First on the loop (the lock-free path)...
            while (echoed < onLoop)
            {
                ReadResult read = await c.Input.ReadAsync();
                Echo(read.Buffer, c.Output);
                echoed += read.Buffer.Length;
                c.Input.AdvanceTo(read.Buffer.End);
                await c.Output.FlushAsync();
            }
            sharedBeforeMove = c.Affinity.IsShared;
            // ...then on a thread of its own, blocking, while the loop keeps filling Input and sending Output.
            var thread = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        ReadResult read = c.Input.ReadAsync().AsTask().GetAwaiter().GetResult();
                        Echo(read.Buffer, c.Output);
                        c.Input.AdvanceTo(read.Buffer.End);
                        c.Output.FlushAsync().AsTask().GetAwaiter().GetResult();
                        if (read.IsCompleted)
                        {
                            break;
                        }
                    }
                    thread.SetResult();
                }
                catch (Exception ex)
                {
                    thread.SetException(ex);
                }
            }) { IsBackground = true }.Start();
            await thread.Task;
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        Task sending = Task.Run(async () =>
        {
            for (int offset = 0; offset < upload.Length; offset += 16 * 1024)
            {
                await client.SendAsync(upload.AsMemory(offset, Math.Min(16 * 1024, upload.Length - offset)));
            }
            client.Shutdown(SocketShutdown.Send);
        });
        (byte[] received, bool reset) = await ReceiveToEndAsync(client);
        await sending.WaitAsync(Limit);
        Assert.False(reset);
        Assert.Equal(upload.Length, received.Length);
        Assert.True(upload.AsSpan().SequenceEqual(received), "the echo must match the upload byte for byte");
        Assert.False(sharedBeforeMove, "used only on the loop, the pipes must not have taken the shared path");
        Assert.True(await OnLoop(() => connection!.Affinity.IsShared), "another thread's use must switch the pipes to the lock");
        await OnLoop(() => server.Dispose());
    }
}
