using System.Buffers;
using System.IO.Pipelines;
using Kevents.Native;
using Kevents.Net.Internal;

namespace Kevents.Net;

/// <summary>
/// A connection as an <see cref="IDuplexPipe"/>: the loop reads the socket into <see cref="Input"/> and sends
/// whatever the application flushes to <see cref="Output"/>. A read waiting on <see cref="Input"/> resumes inline,
/// on the loop thread, inside the kevent that read the bytes, so application code and the transport share one thread.
/// </summary>
/// <remarks>
/// <para><see cref="Input"/> and <see cref="Output"/> are Kevents.Net's own <see cref="PipeReader"/> and
/// <see cref="PipeWriter"/> (not a <see cref="Pipe"/>): their buffers (4 KiB segments) come from the loop's pools
/// when bytes arrive or are written and go back as soon as they are consumed or sent, so an idle connection holds
/// no buffer. They follow the pipe contract (AdvanceTo with consumed and examined positions, CancelPendingRead,
/// CancelPendingFlush, completion with an exception), and may also be used from another thread.</para>
/// <para>Backpressure both ways: the loop stops reading when <see cref="ConnectionOptions.MaxInputBufferSize"/>
/// bytes are unconsumed and resumes at half; <c>Output.FlushAsync</c> waits while more than
/// <see cref="ConnectionOptions.MaxOutputBufferSize"/> bytes are unsent and resumes at
/// <see cref="ConnectionOptions.ResumeOutputBufferSize"/>.</para>
/// <para>The peer's FIN completes <see cref="Input"/> (ReadResult.IsCompleted) while <see cref="Output"/> keeps working
/// (half-close). A reset completes <see cref="Input"/> with <see cref="ConnectionResetException"/> (after the bytes that
/// did arrive), so a truncated upload never looks complete. Completing <see cref="Output"/> sends the rest, then FIN;
/// the socket closes once the application is done with both pipes. Completing <see cref="Output"/> or
/// <see cref="Input"/> with an exception resets the connection at once (the queued output is dropped).</para>
/// <para>When output is sent: what the application flushes while the loop runs it for a read (the read that woke it)
/// or at its start (before its first await) is sent before that kevent's handler returns, in the same turn and in one
/// send however many times it flushed; a flush from anywhere else (a timer, posted work, another thread) is sent by
/// the loop's posted work in its next turn. A flush that leaves <see cref="ConnectionOptions.MaxOutputBufferSize"/>
/// bytes or more unsent completes, as posted work, once the kernel has taken enough of them.</para>
/// </remarks>
public sealed class PipeConnection : Connection, IDuplexPipe
{
    private const int MinimumReadSize = PipePools.SegmentSize;

    private static readonly Action<object?> s_runQueuedSend = static s => ((PipeConnection)s!).RunQueuedSend();
    private static readonly Action<object?> s_resumeInput = static s => ((PipeConnection)s!).ResumeInputOnLoop();

    private readonly ConnectionInput _input;
    private readonly ConnectionOutput _output;
    private int _sendQueued;

    // Input's and Output's lock, skipped until a thread other than the loop uses either of them.
    internal PipeAffinity Affinity;
    private bool _inputDone;
    private bool _outputDone;
    private bool _applicationDone;
    private Task? _application;
    private int _applicationWatch; // 1 once the application's end is watched for good (or was seen)
    private bool _waitingForWritable;

    internal PipeConnection(EventLoop loop, FileDescriptor socket, ConnectionOptions options, SocketServer? server)
        : base(loop, socket, options, server)
    {
        _input = new ConnectionInput(this);
        _output = new ConnectionOutput(this);
    }

    internal ConnectionOptions Options => _options;

    internal PipePools Pools => _net.PipePools;

    // The loop's, reached through the loop's Net state: one reference fewer per connection.
    private PipeSendScheduler Sends => _net.PipeSends;

    /// <summary>
    /// What the peer sent. Complete it when the application wants no more input; complete it with an exception to
    /// reset the connection.
    /// </summary>
    public PipeReader Input => _input;

    /// <summary>
    /// What to send. Flush to send; complete it to send FIN after the rest; complete it with an exception to reset
    /// the connection at once.
    /// </summary>
    public PipeWriter Output => _output;

    internal void Begin(Func<PipeConnection, Task>? application)
    {
        if (!TryStart())
        {
            return;
        }
        if (application is null)
        {
            return;
        }
        // What the application writes before its first await is sent when it gets there, in this turn.
        Sends.Enter();
        try
        {
            StartApplication(application);
        }
        finally
        {
            Sends.Exit();
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
            _applicationWatch = 1;
            OnApplicationCompleted(running);
            return;
        }
        WatchApplication(running);
    }

    /// <summary>
    /// Makes sure the application's end is noticed. While its own async method waits directly on <see cref="Input"/>
    /// (the usual idle state), only Input can resume it, and Input calls <see cref="ApplicationResumed"/> after each
    /// resume, so nothing needs to watch its task: an idle connection pays no continuation object (about 130 bytes).
    /// Anywhere else it may end unseen, so a continuation is attached once, for good. Any thread.
    /// </summary>
    private void WatchApplication(Task application)
    {
        while (true)
        {
            if (Interlocked.CompareExchange(ref _applicationWatch, 1, 0) != 0)
            {
                // Watched for good already, or another thread is deciding; it re-checks after letting go (below).
                return;
            }
            if (application.IsCompleted || !_input.IsAwaitedBy(application))
            {
                break;
            }
            Volatile.Write(ref _applicationWatch, 0);
            // A resume on another thread that found the flag taken left the decision to us: look again.
            if (!application.IsCompleted && _input.IsAwaitedBy(application))
            {
                return;
            }
        }
        if (application.IsCompleted)
        {
            ApplicationEnded();
            return;
        }
        // Not through the awaiter: an awaiter's continuation never runs inline on the loop thread (the loop's
        // SynchronizationContext is installed there), so every application's end would take a thread-pool hop. With
        // ExecuteSynchronously it runs where the task completes (on the loop, normally), and ApplicationEnded posts
        // the rest, after the application's own code has unwound.
        application.ContinueWith(static (_, s) => ((PipeConnection)s!).ApplicationEnded(), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Input ran the continuation of a read the application awaited: it may have ended, or now wait elsewhere.</summary>
    internal void ApplicationResumed()
    {
        if (_application is { } application && Volatile.Read(ref _applicationWatch) == 0)
        {
            WatchApplication(application);
        }
    }

    private void ApplicationEnded()
    {
        try
        {
            ApplicationEnded(_application!);
        }
        catch (Exception ex)
        {
            // Any thread: Abort is the close that is safe from here.
            try
            {
                NetLog.ConnectionFailed(_logger, Id, ex);
                Abort($"Kevents.Net failed while ending the application ({ex.Message})");
            }
            catch (Exception)
            {
                // Nothing may leave this continuation.
            }
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
    /// Completes the application's ends of both pipes (what it wrote and did not flush is sent too). Runs however the
    /// connection ended, including after the socket is closed.
    /// </summary>
    private void CompleteApplicationEnds()
    {
        _applicationDone = true;
        _input.Complete();
        _output.Complete();
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
    internal void OnApplicationCompletedWithError(string pipe, Exception error)
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
        Sends.Enter();
        try
        {
            ReadIntoInput(ev);
        }
        finally
        {
            Sends.Exit();
        }
    }

    // On the io_uring backend the loop receives for this connection too (EventLoop.IoUring.Receive.cs).
    private protected override uint ReadFilterFlags => _loop.ReceiveInRingIfSupported;

    private void ReadIntoInput(in Kevent ev)
    {
        // The segment is taken only now that bytes are there, and given back once the application has consumed them.
        bool inRing = (ev.FilterFlags & EventLoop.ReceivedFilterFlag) != 0;
        ReadOnlySpan<byte> received = inRing ? _loop.ReceivedBytes : default;
        Memory<byte> memory = _input.BeginWrite(Math.Max(MinimumReadSize, received.Length));
        if (memory.IsEmpty)
        {
            // The application completed Input: it wants nothing more, so stop reading.
            StopInput(null);
            return;
        }
        long n;
        if (inRing)
        {
            // The one hook of the ring receive: the bytes are in the loop's buffer already; copy them into the input.
            received.CopyTo(memory.Span);
            n = ev.Data;
        }
        else
        {
            n = Io.Read(_socket!.Fd, memory.Span);
        }
        if (n > 0)
        {
            MarkInput();
            BytesRead += n;
            // Runs the application's read continuation inline, on this thread, inside this kevent.
            if (_input.EndWrite((int)n))
            {
                // Unconsumed input reached the cap: stop reading until the application catches up.
                PauseReading();
            }
            return;
        }
        _input.EndWrite(0);
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

    /// <summary>The application consumed enough of a full Input: read again. Any thread.</summary>
    internal void ResumeAfterBackpressure()
    {
        if (_loop.IsOnLoopThread)
        {
            ResumeInputOnLoop();
            return;
        }
        try
        {
            _loop.Post(s_resumeInput, this);
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone: nothing reads any more.
        }
    }

    private void ResumeInputOnLoop()
    {
        try
        {
            if (!IsClosed && !_inputDone)
            {
                ResumeReading();
            }
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
        _input.CompleteWriter(error);
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
    /// The application flushed or completed Output: send in this turn when the loop runs the application for one of
    /// this connection's kevents (once, at the handler's end, for all of its flushes), else as posted work. Any thread.
    /// </summary>
    internal void RequestSend()
    {
        if (IsClosed || Interlocked.Exchange(ref _sendQueued, 1) != 0)
        {
            return;
        }
        if (Sends.TryHold(this))
        {
            return;
        }
        PostSend();
    }

    private void PostSend()
    {
        try
        {
            _loop.Post(s_runQueuedSend, this);
        }
        catch (ObjectDisposedException)
        {
            // The loop is gone, and with it every way to send: the connection is being closed.
            Volatile.Write(ref _sendQueued, 0);
        }
    }

    /// <summary>Runs a send that <see cref="RequestSend"/> held or posted. Loop thread.</summary>
    internal void RunQueuedSend()
    {
        Volatile.Write(ref _sendQueued, 0);
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
            // Every path here (posted work, a held send, Close from the application's completion) would otherwise
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
        int budget = _options.MaxWritePerTurn;
        while (true)
        {
            // Completed is read with the bytes: once the application completed Output, everything it wrote is here.
            ReadOnlySequence<byte> buffer = _output.PeekUnsent(out bool completed);
            if (buffer.IsEmpty)
            {
                EndOutputStall();
                if (completed)
                {
                    // Everything is sent: FIN, then close when input is done too.
                    _outputDone = true;
                    _output.CompleteReader(null);
                    NativeSocket.Shutdown(_socket!.Fd, System.Net.Sockets.SocketShutdown.Send);
                    CloseIfFinished();
                }
                return;
            }
            if (budget <= 0)
            {
                // This connection had its share of the turn; the rest goes next turn.
                if (Interlocked.Exchange(ref _sendQueued, 1) == 0)
                {
                    PostSend();
                }
                return;
            }
            long sent = NativeSocket.SendSequence(_socket!.Fd, buffer, budget);
            if (sent < 0 && sent != -Errno.EAGAIN)
            {
                Fail(NetErrors.Reset(Id, (int)sent));
                return;
            }
            sent = Math.Max(0, sent);
            if (sent > 0)
            {
                _output.Sent(sent);
                MarkActive();
                BytesWritten += sent;
            }
            budget -= (int)sent;
            if (sent < buffer.Length && budget > 0)
            {
                // The kernel refused the rest: it stays queued until the socket is writable.
                _waitingForWritable = true;
                WatchWritable(true);
                BeginOutputStall();
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
        // Wake the application with the reason (reset or abort) and give every segment back to the loop's pools.
        // Both run even if the first fails.
        try
        {
            if (!_inputDone)
            {
                _inputDone = true;
                _input.CompleteWriter(error);
            }
        }
        finally
        {
            _outputDone = true;
            _output.CompleteReader(error);
        }
        if (_application is { IsCompleted: true })
        {
            // The application ended before the socket closed and its posted end may never run (the loop is being
            // disposed): complete its ends here.
            CompleteApplicationEnds();
        }
    }

    /// <summary>Whether a continuation watches the application's task (tests: not while it waits on Input).</summary>
    internal bool WatchesApplication => Volatile.Read(ref _applicationWatch) != 0;

    /// <summary>Whether either direction holds segments (tests: an idle connection holds none).</summary>
    internal bool HoldsSegments => _input.HoldsSegments || _output.HoldsSegments;
}
