using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// What a pipe application flushes while the loop runs it for a kevent (the read that filled Input, its start) is
/// sent before that kevent's handler returns, not as posted work of a later turn. Each test blocks the loop's posted
/// work from just before the flush until the client has its bytes: a send that waited for posted work never arrives.
/// </summary>
public class PipeSendTurnTests : NetTest
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task WhatTheApplicationFlushesInAReadIsSentInThatTurn()
    {
        using var release = new ManualResetEventSlim();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async connection =>
        {
            ReadResult result = await connection.Input.ReadAsync();
            // Posted work from here on waits until the test has seen the echo (or gave up).
            Loop.Post(() => release.Wait(Limit));
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                connection.Output.Write(segment.Span);
            }
            connection.Input.AdvanceTo(result.Buffer.End);
            // Two flushes in one read: the second adds to the first's send, which has not run yet.
            connection.Output.Write("!"u8);
            await connection.Output.FlushAsync();
            await connection.Output.FlushAsync();
            await connection.Input.ReadAsync();
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ping"u8.ToArray(), SocketFlags.None);
        try
        {
            Assert.Equal("ping!"u8.ToArray(), await ReceiveWithinAsync(client, 5));
        }
        finally
        {
            release.Set();
        }
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await client.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Limit));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task WhatTheApplicationFlushesBeforeItsFirstAwaitIsSentInTheTurnItStarts()
    {
        using var release = new ManualResetEventSlim();
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async connection =>
        {
            Loop.Post(() => release.Wait(Limit));
            connection.Output.Write("hello"u8);
            await connection.Output.FlushAsync();
            await connection.Input.ReadAsync();
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        try
        {
            Assert.Equal("hello"u8.ToArray(), await ReceiveWithinAsync(client, 5));
        }
        finally
        {
            release.Set();
        }
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await client.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Limit));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task AFlushOutsideAnyReadIsStillSent()
    {
        // A flush from posted work (here: the continuation of an await on something other than the pipes) has no
        // kevent handler to ride on: it is sent by the loop's posted work, as before.
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async connection =>
        {
            ReadResult result = await connection.Input.ReadAsync();
            connection.Input.AdvanceTo(result.Buffer.End);
            var later = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Loop.Post(() => later.SetResult());
            await later.Task;
            Assert.True(Loop.IsOnLoopThread);
            connection.Output.Write("later"u8);
            await connection.Output.FlushAsync();
            await connection.Input.ReadAsync();
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("x"u8.ToArray(), SocketFlags.None);
        Assert.Equal("later"u8.ToArray(), await ReceiveWithinAsync(client, 5));
        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await client.ReceiveAsync(new byte[1], SocketFlags.None).WaitAsync(Limit));
        await OnLoop(() => server.Dispose());
    }

    private static async Task<byte[]> ReceiveWithinAsync(Socket client, int count)
    {
        byte[] buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = await client.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None).AsTask().WaitAsync(Wait);
            if (n == 0)
            {
                throw new EndOfStreamException($"peer closed after {received} of {count} bytes");
            }
            received += n;
        }
        return buffer;
    }
}
