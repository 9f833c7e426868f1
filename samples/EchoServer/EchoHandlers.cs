using System.Buffers;
using System.IO.Pipelines;
using Kevents.Net;

namespace EchoServer;

/// <summary>Echo with the low-level API: every byte read is written straight back from the loop's buffer.</summary>
internal sealed class StreamEcho : IStreamHandler
{
    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);
}

/// <summary>Echo with pipes: the shape most applications take (parse Input, write Output).</summary>
internal static class PipeEcho
{
    public static async Task RunAsync(PipeConnection connection)
    {
        PipeReader input = connection.Input;
        PipeWriter output = connection.Output;
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            ReadOnlySequence<byte> buffer = result.Buffer;
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                output.Write(segment.Span);
            }
            input.AdvanceTo(buffer.End);
            FlushResult flush = await output.FlushAsync();
            if (result.IsCompleted || flush.IsCompleted)
            {
                return;
            }
        }
    }
}
