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
/// (half-close). A reset completes <see cref="Input"/> with <see cref="ConnectionResetException"/> (after the bytes that
/// did arrive), so a truncated upload never looks complete. Completing <see cref="Output"/> sends the rest, then FIN;
/// the socket closes once the application is done with both pipes. Completing <see cref="Output"/> or
/// <see cref="Input"/> with an exception resets the connection at once (the queued output is dropped).</para>
/// <para>When output is sent: what the application flushes while the loop runs it for a read (the flush of Input that
/// woke it) or at its start (before its first await) is sent before that kevent's handler returns, in the same turn and
/// in one send however many times it flushed; a flush from anywhere else (a timer, posted work, another thread) is sent
/// by the loop's posted work in its next turn.</para>
/// </remarks>
public sealed class PipeConnection : Connection, IDuplexPipe
{
    private const int MinimumReadSize = 4096;

    private static readonly Action<object?> s_continueSending = static s => ((PipeConnection)s!).ContinueSending();

    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly ApplicationReader _applicationInput;
    private readonly ApplicationWriter _applicationOutput;
    private readonly Action _onFlushed;
    private readonly Action _onOutputReady;
    private readonly PipeSendScheduler _sends;
    private ValueTaskAwaiter<FlushResult> _flushAwaiter;
    private ValueTaskAwaiter<ReadResult> _outputAwaiter;
    private bool _inputDone;
    private bool _outputDone;
    private bool _applicationDone;
    private Task? _application;
    private bool _waitingForWritable;

    internal PipeConnection(EventLoop loop, FileDescriptor socket, ConnectionOptions options, SocketServer? server)
        : base(loop, socket, options, server)
    {
        NetLoop net = NetLoop.Of(loop);
        _sends = net.PipeSends;
        _input = new Pipe(net.InputPipeOptions(options, MinimumReadSize));
        _output = new Pipe(net.OutputPipeOptions(options));
        _onFlushed = OnInputFlushed;
        _onOutputReady = ContinueSending;
        _applicationInput = new ApplicationReader(this, _input.Reader);
        _applicationOutput = new ApplicationWriter(this, _output.Writer);
    }

    /// <summary>
    /// What the peer sent. Complete it when the application wants no more input; complete it with an exception to
    /// reset the connection.
    /// </summary>
    public PipeReader Input => _applicationInput;

    /// <summary>
    /// What to send. Flush to send; complete it to send FIN after the rest; complete it with an exception to reset
    /// the connection at once.
    /// </summary>
    public PipeWriter Output => _applicationOutput;

    internal void Begin(Func<PipeConnection, Task>? application)
    {
        if (!TryStart())
        {
            return;
        }
        // What the application writes before its first await is sent when it gets there, in this turn.
        _sends.Enter();
        try
        {
            ContinueSending();
            if (application is not null)
            {
                StartApplication(application);
            }
        }
        finally
        {
            _sends.Exit();
        }
    }

    private void StartApplication(Func<PipeConnection, Task> application)
    {
        Task running;
        try
        {
            running = application(this);
        }
        catch (Exception ex)
        {
            running = Task.FromException(ex);
        }
        _application = running;
        if (running.IsCompleted)
        {
            OnApplicationCompleted(running);
        }
        else
        {
            // Not through the awaiter: an exception from a continuation run by the awaiter machinery is rethrown on
            // the thread pool, which ends the process. The loop runs OnApplicationCompleted as posted work instead,
            // after the application's own code has unwound.
            running.ContinueWith(static (t, s) => ((PipeConnection)s!).ApplicationEnded(t), this,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void ApplicationEnded(Task application)
    {
        if (IsClosed)
        {
            // The transport is done with both pipes, so the application's ends can be completed from this thread,
            // and must be now: the loop may be shutting down and drop the item posted below.
            CompleteApplicationEnds();
        }
        try
        {
            // Also when the loop is between Poll calls or stopped: it runs the item when it runs again.
            _loop.Post(static s =>
            {
                var (connection, task) = ((PipeConnection, Task))s!;
                connection.OnApplicationCompleted(task);
            }, (this, application));
            return;
        }
        catch (ObjectDisposedException)
        {
        }
        // The loop is gone: nothing can send the rest, so close now rather than leave it to the finalizer.
        if (application.IsFaulted)
        {
            NetLog.ApplicationFailed(_logger, Id, application.Exception!.InnerException ?? application.Exception);
        }
        Abort("the application finished after its loop stopped");
        CompleteApplicationEnds();
    }

    /// <summary>Completes both pipes from the application's side: what is flushed is sent, then the socket closes. Loop thread only.</summary>
    public override void Close()
    {
        AssertOwnLoop();
        CompleteApplicationEnds();
        if (!IsClosed)
        {
            ContinueSending();
        }
    }

    /// <summary>
    /// Completes the application's ends of both pipes. A pipe gives its segments back to the pool only once both of
    /// its ends are complete, so this runs however the connection ended, including after the socket is closed.
    /// </summary>
    private void CompleteApplicationEnds()
    {
        _applicationDone = true;
        _input.Reader.Complete();
        _output.Writer.Complete();
    }

    internal override void RequestShutdown()
    {
        // The application sees the end of its input and can finish what it is doing; the deadline aborts the rest.
        StopInput(null);
        CloseIfFinished();
    }

    private void OnApplicationCompleted(Task application)
    {
        try
        {
            if (application.IsFaulted)
            {
                Exception error = application.Exception!.InnerException ?? application.Exception;
                if (IsClosed && error is ConnectionResetException or ConnectionAbortedException)
                {
                    // The application only saw the connection end under it (reset, timeout, abort): not its failure.
                    CompleteApplicationEnds();
                    return;
                }
                NetLog.ApplicationFailed(_logger, Id, error);
                AbortNow("the application handler failed", deferNotification: false);
                CompleteApplicationEnds();
                return;
            }
            Close();
        }
        catch (Exception ex)
        {
            OnInternalFailure(ex);
        }
    }

    /// <summary>
    /// The application completed <see cref="Input"/> or <see cref="Output"/> with an exception: reset the connection
    /// at once (the peer must not take what was sent as complete). Called from the application, on any thread.
    /// </summary>
    private void OnApplicationCompletedWithError(string pipe, Exception error)
    {
        NetLog.ApplicationCompletedWithError(_logger, Id, pipe, error);
        Abort($"the application completed its {pipe} with an error ({error.Message})");
    }

    private protected override void OnReadable(in Kevent ev)
    {
        if (_inputDone || IsClosed)
        {
            return;
        }
        // The application runs inside the flush below; what it flushes is sent when this read is done with it.
        _sends.Enter();
        try
        {
            ReadIntoInput(ev);
        }
        finally
        {
            _sends.Exit();
        }
    }

    // On the io_uring backend the loop receives for this connection too (EventLoop.IoUring.Receive.cs).
    private protected override uint ReadFilterFlags => _loop.ReceiveInRingIfSupported;

    private void ReadIntoInput(in Kevent ev)
    {
        PipeWriter writer = _input.Writer;
        Memory<byte> memory;
        long n;
        if ((ev.FilterFlags & EventLoop.ReceivedFilterFlag) != 0)
        {
            // The one hook of the ring receive: the bytes are in the loop's buffer already; copy them into the pipe.
            ReadOnlySpan<byte> received = _loop.ReceivedBytes;
            memory = writer.GetMemory(Math.Max(MinimumReadSize, received.Length));
            received.CopyTo(memory.Span);
            n = ev.Data;
        }
        else
        {
            memory = writer.GetMemory(MinimumReadSize);
            n = Io.Read(_socket!.Fd, memory.Span);
        }
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
        if (n == 0 && PeerError == 0)
        {
            StopInput(null);
            CloseIfFinished();
            return;
        }
        // A read error, or the end of a connection epoll reported as failed (the loop read and so cleared its
        // SO_ERROR, so the read returns 0): a reset. Input fails with it after the bytes that arrived.
        Fail(NetErrors.Reset(Id, n < 0 ? (int)n : PeerError));
    }

    private void OnInputFlushed()
    {
        try
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
        catch (Exception ex)
        {
            OnInternalFailure(ex);
        }
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
        if (ev.IsError && !IsClosed)
        {
            if (PeerError == 0)
            {
                PeerError = (int)ev.Data;
            }
            WatchWritable(false);
            if (!_inputDone && ReadingActive)
            {
                // The read side reports the reset after the bytes the kernel still holds; sending is over either way.
                _waitingForWritable = true;
                return;
            }
            Fail(NetErrors.Reset(Id, PeerError));
            return;
        }
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
        try
        {
            ContinueSendingCore();
        }
        catch (Exception ex)
        {
            // Every path here (posted work, a pipe callback, Close from the application's completion) would otherwise
            // carry the exception to the loop or the thread pool.
            OnInternalFailure(ex);
        }
    }

    private void ContinueSendingCore()
    {
        if (IsClosed || _outputDone || _waitingForWritable)
        {
            return;
        }
        PipeReader reader = _output.Reader;
        int budget = _options.MaxWritePerTurn;
        while (true)
        {
            // ReadAsync rather than TryRead first: it returns what is there synchronously, and when nothing is, it
            // parks the continuation under the same lock instead of taking the pipe's lock twice.
            ValueTask<ReadResult> pending = reader.ReadAsync();
            if (!pending.IsCompleted)
            {
                // Everything flushed so far is sent.
                EndOutputStall();
                _outputAwaiter = pending.GetAwaiter();
                _outputAwaiter.UnsafeOnCompleted(_onOutputReady);
                return;
            }
            ReadResult result = pending.Result;

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
        // Wake the application with the reason (reset or abort) and return every pipe buffer to its pool. Both run
        // even if the first fails (a pipe scheduler whose loop is gone).
        try
        {
            if (!_inputDone)
            {
                _inputDone = true;
                _input.Writer.Complete(error);
            }
        }
        finally
        {
            if (!_outputDone)
            {
                _outputDone = true;
                _output.Reader.Complete(error);
            }
        }
        if (_application is { IsCompleted: true })
        {
            // The application ended before the socket closed and its posted end may never run (the loop is being
            // disposed): complete its ends here so the pipes give their segments back.
            CompleteApplicationEnds();
        }
    }

    /// <summary>
    /// The application's view of <see cref="Input"/>: the pipe's reader, except that completing it with an exception
    /// resets the connection at once instead of failing the transport's next flush with the application's exception.
    /// </summary>
    private sealed class ApplicationReader(PipeConnection connection, PipeReader inner) : PipeReader
    {
        public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

        protected override ValueTask<ReadResult> ReadAtLeastAsyncCore(int minimumSize, CancellationToken cancellationToken) =>
            inner.ReadAtLeastAsync(minimumSize, cancellationToken);

        public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            if (exception is not null)
            {
                connection.OnApplicationCompletedWithError("Input", exception);
            }
            inner.Complete();
        }

        public override ValueTask CompleteAsync(Exception? exception = null)
        {
            Complete(exception);
            return default;
        }
    }

    /// <summary>
    /// The application's view of <see cref="Output"/>: the pipe's writer, except that completing it with an exception
    /// resets the connection at once, even while queued output waits for a peer that stopped reading.
    /// </summary>
    private sealed class ApplicationWriter(PipeConnection connection, PipeWriter inner) : PipeWriter
    {
        public override void Advance(int bytes) => inner.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
            inner.WriteAsync(source, cancellationToken);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            if (exception is not null)
            {
                // Abort first: the completion below schedules a send of the rest, which must find the socket closed.
                connection.OnApplicationCompletedWithError("Output", exception);
            }
            inner.Complete();
        }

        public override ValueTask CompleteAsync(Exception? exception = null)
        {
            Complete(exception);
            return default;
        }
    }
}
