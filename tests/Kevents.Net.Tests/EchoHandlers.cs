using System.Buffers;
using System.IO.Pipelines;
using Kevents.Net;

namespace Kevents.Tests;

internal sealed class StreamEcho : IStreamHandler
{
    public int Closed;
    public int EndOfStream;
    public Exception? LastError;

    public void OnData(StreamConnection connection, ReadOnlySpan<byte> data) => connection.Write(data);

    public void OnEndOfStream(StreamConnection connection)
    {
        EndOfStream++;
        connection.Close();
    }

    public void OnClosed(StreamConnection connection, Exception? error)
    {
        Closed++;
        LastError = error;
    }
}

internal static class PipeEcho
{
    public static async Task RunAsync(PipeConnection connection)
    {
        while (true)
        {
            ReadResult result = await connection.Input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                connection.Output.Write(segment.Span);
            }
            connection.Input.AdvanceTo(result.Buffer.End);
            FlushResult flush = await connection.Output.FlushAsync();
            if (result.IsCompleted || flush.IsCompleted)
            {
                return;
            }
        }
    }
}
