using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// Connection.SendDirect and Connection.SendFile: the public way to send without the output queue (headers with
/// MSG_MORE, then a sendfile body), with -errno results like the rest of Kevents.
/// </summary>
public class DirectSendTests : NetTest
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("kevents-direct-");

    [Fact]
    public async Task SendDirectDeliversTheBytesInOrderAndCountsThem()
    {
        (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync();
        using (client)
        {
            byte[] head = "HEAD:"u8.ToArray();
            byte[] body = Enumerable.Range(0, 3000).Select(i => (byte)i).ToArray();
            (long first, long second, long written) = await OnLoop(() =>
            {
                long a = connection.SendDirect(head, more: true);
                long b = connection.SendDirect(body);
                return (a, b, connection.BytesWritten);
            });

            Assert.Equal(head.Length, first);
            Assert.Equal(body.Length, second);
            Assert.Equal(head.Length + body.Length, written);
            byte[] received = await ReceiveExactlyAsync(client, head.Length + body.Length);
            Assert.Equal(head.Concat(body).ToArray(), received);
        }
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task SendFileSendsTheRangeAdvancesTheOffsetAndAnswersZeroAtTheEnd()
    {
        byte[] content = Enumerable.Range(0, 20_000).Select(i => (byte)(i * 7)).ToArray();
        string path = Path.Combine(_dir.FullName, "body.bin");
        File.WriteAllBytes(path, content);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync();
            using (client)
            {
                (long sent, long offset, long atEnd, long endOffset, long written) = await OnLoop(() =>
                {
                    long offset = 1000;
                    long sent = connection.SendFile(file!, ref offset, 5000);
                    long endOffset = content.Length;
                    long atEnd = connection.SendFile(file!, ref endOffset, 100);
                    return (sent, offset, atEnd, endOffset, connection.BytesWritten);
                });

                Assert.Equal(5000, sent);
                Assert.Equal(6000, offset);
                Assert.Equal(0, atEnd);
                Assert.Equal(content.Length, endOffset);
                Assert.Equal(5000, written);
                byte[] received = await ReceiveExactlyAsync(client, 5000);
                Assert.Equal(content.AsSpan(1000, 5000).ToArray(), received);
            }
            await OnLoop(server.Dispose);
        }
    }

    [Fact]
    public async Task SendDirectAnswersEagainWhenTheSocketIsFullAndNotifyWritableResumes()
    {
        (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync(limitBuffers: true);
        using (client)
        {
            var writable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            (long last, long total, bool waiting) = await OnLoop(() =>
            {
                byte[] chunk = new byte[64 * 1024];
                long total = 0;
                long sent = 0;
                // Small buffers on both sides: a few chunks fill them. The bound only stops a broken test.
                for (int i = 0; i < 10_000 && (sent = connection.SendDirect(chunk)) > 0; i++)
                {
                    total += sent;
                }
                bool waiting = connection.NotifyWritable(_ => writable.TrySetResult());
                return (sent, total, waiting);
            });

            Assert.Equal(-Errno.EAGAIN, last);
            Assert.True(waiting);
            Assert.Equal(total, await OnLoop(() => connection.BytesWritten));
            await ReceiveExactlyAsync(client, (int)total);
            await writable.Task.WaitAsync(Limit);
        }
        await OnLoop(server.Dispose);
    }

    [Fact]
    public async Task DirectSendsAreRefusedWithEbusyWhileQueuedOutputIsFlushed()
    {
        // Direct bytes would overtake the queued ones: the caller must wait for the queue to drain first.
        string path = Path.Combine(_dir.FullName, "small.bin");
        File.WriteAllBytes(path, new byte[100]);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync(limitBuffers: true);
            using (client)
            {
                (int queued, long direct, long sendFile, long offset) = await OnLoop(() =>
                {
                    connection.Write(new byte[1024 * 1024]);
                    long offset = 0;
                    long direct = connection.SendDirect(new byte[10]);
                    long sendFile = connection.SendFile(file!, ref offset, 100);
                    int queued = connection.QueuedOutput;
                    connection.Abort("test done");
                    return (queued, direct, sendFile, offset);
                });

                Assert.True(queued > 0, "the write did not queue: the socket took a megabyte at once");
                Assert.Equal(-Errno.EBUSY, direct);
                Assert.Equal(-Errno.EBUSY, sendFile);
                Assert.Equal(0, offset);
            }
            await OnLoop(server.Dispose);
        }
    }

    [Fact]
    public async Task DirectSendsOnAClosedConnectionOrFromADisposedFileAnswerEbadf()
    {
        string path = Path.Combine(_dir.FullName, "gone.bin");
        File.WriteAllBytes(path, new byte[100]);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? disposed));
        disposed!.Dispose();
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync();
            using (client)
            {
                (long disposedFile, long afterClose, long sendFileAfterClose) = await OnLoop(() =>
                {
                    long offset = 0;
                    long disposedFile = connection.SendFile(disposed, ref offset, 100);
                    connection.Abort("test done");
                    long afterClose = connection.SendDirect(new byte[10]);
                    offset = 0;
                    long sendFileAfterClose = connection.SendFile(file!, ref offset, 100);
                    return (disposedFile, afterClose, sendFileAfterClose);
                });

                Assert.Equal(-Errno.EBADF, disposedFile);
                Assert.Equal(-Errno.EBADF, afterClose);
                Assert.Equal(-Errno.EBADF, sendFileAfterClose);
            }
            await OnLoop(server.Dispose);
        }
    }

    [Fact]
    public async Task SendFileRejectsANullFileAndNegativeRangesAtTheEdge()
    {
        string path = Path.Combine(_dir.FullName, "args.bin");
        File.WriteAllBytes(path, new byte[100]);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            (SocketServer server, StreamConnection connection, Socket client) = await ConnectAsync();
            using (client)
            {
                Exception?[] errors = await OnLoop(() => new[]
                {
                    Record.Exception(() => { long o = 0; connection.SendFile(null!, ref o, 1); }),
                    Record.Exception(() => { long o = -1; connection.SendFile(file!, ref o, 1); }),
                    Record.Exception(() => { long o = 0; connection.SendFile(file!, ref o, -1); }),
                });

                Assert.IsType<ArgumentNullException>(errors[0]);
                Assert.IsType<ArgumentOutOfRangeException>(errors[1]);
                Assert.IsType<ArgumentOutOfRangeException>(errors[2]);
                Assert.Equal(0, await OnLoop(() => connection.BytesWritten));
            }
            await OnLoop(server.Dispose);
        }
    }

    /// <summary>A server whose one connection the test drives, and the client at the other end.</summary>
    private async Task<(SocketServer Server, StreamConnection Connection, Socket Client)> ConnectAsync(bool limitBuffers = false)
    {
        var connected = new TaskCompletionSource<StreamConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new CallbackHandler(onConnected: c =>
        {
            if (limitBuffers)
            {
                Assert.Equal(0, Kevents.Native.NativeSocket.SetSendBufferSize(c.Descriptor, 32 * 1024));
            }
            connected.TrySetResult(c);
        }, onData: (_, _) => { });
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), handler));
        var client = new Socket(server.LocalEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (limitBuffers)
        {
            // Before connecting, so the window the server sees is small from the first segment.
            client.ReceiveBufferSize = 32 * 1024;
        }
        await client.ConnectAsync(server.LocalEndPoint).WaitAsync(Limit);
        StreamConnection connection = await connected.Task.WaitAsync(Limit);
        return (server, connection, client);
    }

    public override void Dispose()
    {
        base.Dispose();
        _dir.Delete(recursive: true);
    }
}
