using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Kevents.Net;

namespace Kevents.Tests;

/// <summary>
/// PipeConnection's own Input and Output (the loop-owned reader and writer that replaced System.IO.Pipelines' Pipe):
/// the PipeReader/PipeWriter contract applications rely on, and segments given back when a connection goes idle.
/// </summary>
public class PipeReaderWriterTests : NetTest
{
    private static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) + seed);
        }
        return data;
    }

    private static async Task Send(PipeWriter output, string text)
    {
        output.Write(Encoding.ASCII.GetBytes(text));
        await output.FlushAsync();
    }

    [Fact]
    public async Task ExaminingEverythingWaitsForMoreBytesAndThenShowsThemAll()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult first = await c.Input.ReadAsync();
            c.Input.AdvanceTo(first.Buffer.Start, first.Buffer.End);
            ValueTask<ReadResult> next = c.Input.ReadAsync();
            await Send(c.Output, next.IsCompleted ? "ready|" : "waits|");
            ReadResult second = await next;
            await Send(c.Output, Encoding.ASCII.GetString(second.Buffer.ToArray()));
            c.Input.AdvanceTo(second.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ab"u8.ToArray());
        Assert.Equal("waits|"u8.ToArray(), await ReceiveExactlyAsync(client, 6));
        await client.SendAsync("c"u8.ToArray());
        Assert.Equal("abc"u8.ToArray(), await ReceiveExactlyAsync(client, 3));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task ExaminingPartOfTheBufferReadsAgainAtOnce()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult first = await c.Input.ReadAsync();
            c.Input.AdvanceTo(first.Buffer.GetPosition(1), first.Buffer.GetPosition(1));
            ValueTask<ReadResult> next = c.Input.ReadAsync();
            string state = next.IsCompleted ? "ready|" : "waits|";
            ReadResult second = await next;
            await Send(c.Output, state + Encoding.ASCII.GetString(second.Buffer.ToArray()));
            c.Input.AdvanceTo(second.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ab"u8.ToArray());
        Assert.Equal("ready|b"u8.ToArray(), await ReceiveExactlyAsync(client, 7));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task CancelPendingReadCompletesTheWaitingReadOrTheNextOne()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ValueTask<ReadResult> waiting = c.Input.ReadAsync();
            bool waited = !waiting.IsCompleted;
            c.Input.CancelPendingRead();
            ReadResult canceled = await waiting;
            c.Input.AdvanceTo(canceled.Buffer.End);
            // No read pending: the next one returns canceled at once.
            c.Input.CancelPendingRead();
            ValueTask<ReadResult> next = c.Input.ReadAsync();
            bool immediate = next.IsCompleted;
            ReadResult again = await next;
            c.Input.AdvanceTo(again.Buffer.End);
            await Send(c.Output, $"{waited}{canceled.IsCanceled}{canceled.Buffer.IsEmpty}|{immediate}{again.IsCanceled}|");
            ReadResult data = await c.Input.ReadAsync();
            await Send(c.Output, Encoding.ASCII.GetString(data.Buffer.ToArray()) + (data.IsCanceled ? "!" : "."));
            c.Input.AdvanceTo(data.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        string expected = "TrueTrueTrue|TrueTrue|";
        Assert.Equal(expected, Encoding.ASCII.GetString(await ReceiveExactlyAsync(client, expected.Length)));
        await client.SendAsync("x"u8.ToArray());
        Assert.Equal("x."u8.ToArray(), await ReceiveExactlyAsync(client, 2));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task ACanceledTokenEndsTheReadAndTheNextReadStillWorks()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            using var cts = new CancellationTokenSource();
            ValueTask<ReadResult> waiting = c.Input.ReadAsync(cts.Token);
            cts.Cancel();
            string outcome;
            try
            {
                await waiting;
                outcome = "read";
            }
            catch (OperationCanceledException ex) when (ex.CancellationToken == cts.Token)
            {
                outcome = "canceled";
            }
            await Send(c.Output, outcome + "|");
            ReadResult data = await c.Input.ReadAsync();
            await Send(c.Output, Encoding.ASCII.GetString(data.Buffer.ToArray()));
            c.Input.AdvanceTo(data.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        Assert.Equal("canceled|"u8.ToArray(), await ReceiveExactlyAsync(client, 9));
        await client.SendAsync("y"u8.ToArray());
        Assert.Equal("y"u8.ToArray(), await ReceiveExactlyAsync(client, 1));
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task WritesLargerThanASegmentAndLargeSizeHintsArriveIntact()
    {
        byte[] large = Pattern(100_000, 7);
        byte[] hinted = Pattern(20_000, 3);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            c.Output.Write(large);
            await c.Output.FlushAsync();
            // A size hint five segments long gets one piece of memory at least that large.
            Memory<byte> memory = c.Output.GetMemory(hinted.Length);
            if (memory.Length < hinted.Length)
            {
                throw new InvalidOperationException($"GetMemory({hinted.Length}) returned {memory.Length} bytes");
            }
            hinted.CopyTo(memory);
            c.Output.Advance(hinted.Length);
            Assert.Equal(hinted.Length, c.Output.UnflushedBytes);
            await c.Output.FlushAsync();
            c.Output.Complete();
            ReadResult end = await c.Input.ReadAsync();
            c.Input.AdvanceTo(end.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        (byte[] received, bool reset) = await ReceiveToEndAsync(client);
        Assert.False(reset);
        Assert.Equal([.. large, .. hinted], received);
        client.Shutdown(SocketShutdown.Send);
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task InputLongerThanASegmentReadsAsOneBufferInOrder()
    {
        byte[] upload = Pattern(20_000, 11);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            ReadResult all = await c.Input.ReadAtLeastAsync(upload.Length);
            foreach (ReadOnlyMemory<byte> segment in all.Buffer)
            {
                c.Output.Write(segment.Span);
            }
            await Send(c.Output, all.Buffer.IsSingleSegment ? "|one" : "|many");
            c.Input.AdvanceTo(all.Buffer.End);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync(upload);
        byte[] echoed = await ReceiveExactlyAsync(client, upload.Length + 5);
        Assert.Equal(upload, echoed[..upload.Length]);
        Assert.Equal("|many"u8.ToArray(), echoed[upload.Length..]);
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task SegmentsAreHeldOnlyWhileBytesAreUnconsumed()
    {
        PipeConnection? connection = null;
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            connection = c;
            ReadResult first = await c.Input.ReadAsync();
            c.Input.AdvanceTo(first.Buffer.Start, first.Buffer.End);
            holding.SetResult();
            await PipeEcho.RunAsync(c);
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ab"u8.ToArray());
        await holding.Task.WaitAsync(Limit);
        Assert.True(await OnLoop(() => connection!.HoldsSegments), "unconsumed input must be held");
        await client.SendAsync("c"u8.ToArray());
        Assert.Equal("abc"u8.ToArray(), await ReceiveExactlyAsync(client, 3));
        // Echoed and consumed: the idle connection gives its input and output segments back.
        await WaitUntilAsync(() => OnLoop(() => !connection!.HoldsSegments), "the idle connection held no segment");
        await OnLoop(() => server.Dispose());
    }

    [Fact]
    public async Task MisusedPositionsAndCompletedEndsThrowAtTheCaller()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), async c =>
        {
            var outcomes = new StringBuilder();
            ReadResult first = await c.Input.ReadAsync();
            try
            {
                c.Input.AdvanceTo(first.Buffer.Start, first.Buffer.GetPosition(0));
                c.Input.AdvanceTo(first.Buffer.End);
                outcomes.Append("twice-ok|");
            }
            catch (InvalidOperationException)
            {
                outcomes.Append("advance-twice|");
            }
            try
            {
                c.Input.AdvanceTo(first.Buffer.End);
            }
            catch (InvalidOperationException)
            {
                outcomes.Append("no-read|");
            }
            ReadResult second = await c.Input.ReadAsync();
            try
            {
                c.Input.AdvanceTo(second.Buffer.End, second.Buffer.Start);
            }
            catch (InvalidOperationException)
            {
                outcomes.Append("examined-before-consumed|");
                c.Input.AdvanceTo(second.Buffer.End);
            }
            c.Input.Complete();
            try
            {
                await c.Input.ReadAsync();
            }
            catch (InvalidOperationException)
            {
                outcomes.Append("read-after-complete");
            }
            await Send(c.Output, outcomes.ToString());
        }));
        using Socket client = await ConnectClientAsync(server.LocalEndPoint);
        await client.SendAsync("ab"u8.ToArray());
        string expected = "advance-twice|no-read|examined-before-consumed|read-after-complete";
        Assert.Equal(expected, Encoding.ASCII.GetString(await ReceiveExactlyAsync(client, expected.Length)));
        await OnLoop(() => server.Dispose());
    }
}
