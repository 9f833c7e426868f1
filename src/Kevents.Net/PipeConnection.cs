using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>
/// A connection as an <see cref="IDuplexPipe"/>: the loop reads the socket into <see cref="Input"/> and sends
/// whatever the application flushes to <see cref="Output"/>. Both pipes schedule their continuations on the loop,
/// so application code and the transport share one thread and need no locks.
/// </summary>
/// <remarks>
/// <para>Backpressure both ways: the loop stops reading when <see cref="ConnectionOptions.MaxInputBufferSize"/>
/// bytes are unconsumed and resumes at half; <c>Output.FlushAsync</c> waits while more than
/// <see cref="ConnectionOptions.MaxOutputBufferSize"/> bytes are unsent and resumes at
/// <see cref="ConnectionOptions.ResumeOutputBufferSize"/>.</para>
/// <para>The peer's FIN completes <see cref="Input"/> (ReadResult.IsCompleted) while <see cref="Output"/> keeps working
/// (half-close). A reset completes <see cref="Input"/> with <see cref="ConnectionResetException"/>. Completing
/// <see cref="Output"/> sends the rest, then FIN; the socket closes once the application is done with both pipes.</para>
/// </remarks>
public sealed class PipeConnection : Connection, IDuplexPipe
{
    private const int MinimumReadSize = 4096;

    private static readonly Action<object?> s_continueSending = static s => ((PipeConnection)s!).ContinueSending();

    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly Action _onFlushed;
    private readonly Action _onOutputReady;
    private ValueTaskAwaiter<FlushResult> _flushAwaiter;
    private ValueTaskAwaiter<ReadResult> _outputAwaiter;
    private bool _inputDone;
    private bool _outputDone;
    private bool _applicationDone;
    private bool _waitingForWritable;

    internal PipeConnection(EventLoop loop, FileDescriptor socket, ConnectionOptions options, SocketServer? server)
        : base(loop, socket, options, server)
    {
        PipeScheduler scheduler = loop.PipeScheduler;
        // The application's read continuation runs inline, inside the Read kevent that filled the pipe: it is already
        // on the loop thread, and a posted hop would cost a whole loop turn per message. Everything else is posted.
        _input = new Pipe(new PipeOptions(
            readerScheduler: PipeScheduler.Inline, writerScheduler: scheduler,
            pauseWriterThreshold: options.MaxInputBufferSize, resumeWriterThreshold: options.MaxInputBufferSize / 2,
            minimumSegmentSize: MinimumReadSize, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: options.MaxOutputBufferSize, resumeWriterThreshold: options.ResumeOutputBufferSize,
            useSynchronizationContext: false));
        _onFlushed = OnInputFlushed;
        _onOutputReady = ContinueSending;
    }

    /// <summary>What the peer sent. Complete it when the application wants no more input.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>What to send. Flush to send; complete it to send FIN after the rest.</summary>
    public PipeWriter Output => _output.Writer;

    internal void Begin(Func<PipeConnection, Task>? application)
    {
        Start();
        ContinueSending();
        if (application is null)
        {
            return;
        }
        Task running;
        try
        {
            running = application(this);
        }
        catch (Exception ex)
        {
            running = Task.FromException(ex);
        }
        if (running.IsCompleted)
        {
            OnApplicationCompleted(running);
        }
        else
        {
            // The loop's synchronization context brings the continuation back to the loop thread.
            running.GetAwaiter().UnsafeOnCompleted(() => OnApplicationCompleted(running));
        }
    }

    /// <summary>Completes both pipes from the application's side: what is flushed is sent, then the socket closes.</summary>
    public override void Close()
    {
        if (IsClosed)
        {
            return;
        }
        _applicationDone = true;
        _input.Reader.Complete();
        _output.Writer.Complete();
        ContinueSending();
    }

    internal override void RequestShutdown()
    {
        // The application sees the end of its input and can finish what it is doing; the deadline aborts the rest.
        StopInput(null);
        CloseIfFinished();
    }

    private void OnApplicationCompleted(Task application)
    {
        if (application.IsFaulted)
        {
            Exception error = application.Exception!.InnerException ?? application.Exception;
            if (IsClosed && error is ConnectionResetException or ConnectionAbortedException)
            {
                // The application only saw the connection end under it (reset, timeout, abort): not its failure.
                return;
            }
            NetLog.ApplicationFailed(_logger, Id, error);
            Abort("the application handler failed");
            return;
        }
        Close();
    }

    private protected override void OnReadable(in Kevent ev)
    {
        if (_inputDone || IsClosed)
        {
            return;
        }
        PipeWriter writer = _input.Writer;
        Memory<byte> memory = writer.GetMemory(MinimumReadSize);
        long n = Io.Read(_socket!.Fd, memory.Span);
        if (n > 0)
        {
            MarkInput();
            BytesRead += n;
            writer.Advance((int)n);
            ValueTask<FlushResult> flush = writer.FlushAsync();
            if (flush.IsCompleted)
            {
                if (flush.Result.IsCompleted)
                {
                    // The application completed Input: it wants nothing more, so stop reading.
                    StopInput(null);
                }
                return;
            }
            // Unconsumed input reached the cap: stop reading until the application catches up.
            PauseReading();
            _flushAwaiter = flush.GetAwaiter();
            _flushAwaiter.UnsafeOnCompleted(_onFlushed);
            return;
        }
        if (n == -Errno.EAGAIN)
        {
            return;
        }
        if (n == 0)
        {
            StopInput(null);
            CloseIfFinished();
            return;
        }
        Fail(NetErrors.Reset(Id, (int)n));
    }

    private void OnInputFlushed()
    {
        if (IsClosed || _inputDone)
        {
            return;
        }
        FlushResult result = _flushAwaiter.GetResult();
        if (result.IsCompleted)
        {
            StopInput(null);
            return;
        }
        ResumeReading();
    }

    private void StopInput(Exception? error)
    {
        if (_inputDone)
        {
            return;
        }
        _inputDone = true;
        StopReading();
        _input.Writer.Complete(error);
    }

    private protected override void OnWritable(in Kevent ev)
    {
        _waitingForWritable = false;
        WatchWritable(false);
        ContinueSending();
    }

    /// <summary>
    /// Sends what the application has flushed, up to <see cref="ConnectionOptions.MaxWritePerTurn"/> bytes per turn,
    /// asking for write readiness only when the socket buffer is full.
    /// </summary>
    private void ContinueSending()
    {
        if (IsClosed || _outputDone || _waitingForWritable)
        {
            return;
        }
        PipeReader reader = _output.Reader;
        int budget = _options.MaxWritePerTurn;
        while (true)
        {
            if (!reader.TryRead(out ReadResult result))
            {
                ValueTask<ReadResult> pending = reader.ReadAsync();
                if (!pending.IsCompleted)
                {
                    // Everything flushed so far is sent.
                    EndOutputStall();
                    _outputAwaiter = pending.GetAwaiter();
                    _outputAwaiter.UnsafeOnCompleted(_onOutputReady);
                    return;
                }
                result = pending.Result;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                long sent = NativeSocket.SendSequence(_socket!.Fd, buffer, budget);
                if (sent < 0 && sent != -Errno.EAGAIN)
                {
                    reader.AdvanceTo(buffer.End);
                    Fail(NetErrors.Reset(Id, (int)sent));
                    return;
                }
                sent = Math.Max(0, sent);
                reader.AdvanceTo(buffer.GetPosition(sent));
                if (sent > 0)
                {
                    MarkActive();
                    BytesWritten += sent;
                }
                budget -= (int)sent;
                if (sent < buffer.Length)
                {
                    if (budget <= 0)
                    {
                        // This connection had its share of the turn; the rest goes next turn.
                        _loop.Post(s_continueSending, this);
                    }
                    else
                    {
                        _waitingForWritable = true;
                        WatchWritable(true);
                        BeginOutputStall();
                    }
                    return;
                }
            }
            else
            {
                reader.AdvanceTo(buffer.End);
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                // The application completed Output and everything is sent: FIN, then close when input is done too.
                _outputDone = true;
                EndOutputStall();
                reader.Complete();
                NativeSocket.Shutdown(_socket!.Fd, System.Net.Sockets.SocketShutdown.Send);
                CloseIfFinished();
                return;
            }
            if (budget <= 0)
            {
                _loop.Post(s_continueSending, this);
                return;
            }
        }
    }

    private void CloseIfFinished()
    {
        // Close once nothing more can move: output sent and completed, and either the peer finished or the
        // application is done reading.
        if (_outputDone && (_inputDone || _applicationDone))
        {
            CloseSocket(null);
        }
    }

    private void Fail(Exception error) => CloseSocket(error, reset: false);

    private protected override void OnClosed(Exception? error)
    {
        // Wake the application with the reason (reset or abort) and return every pipe buffer to its pool.
        if (!_inputDone)
        {
            _inputDone = true;
            _input.Writer.Complete(error);
        }
        if (!_outputDone)
        {
            _outputDone = true;
            _output.Reader.Complete(error);
        }
    }
}
