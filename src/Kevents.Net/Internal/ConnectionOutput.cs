using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Kevents.Net.Internal;

/// <summary>
/// <see cref="PipeConnection.Output"/>: the application writes into segments taken from the loop's pools; a flush
/// asks the connection to send, which the loop does in the same turn when the application runs inside one of the
/// connection's kevents (one send for all of that kevent's flushes), else as posted work. Sent segments go back at
/// once, so an idle connection holds none.
/// </summary>
/// <remarks>
/// Backpressure as <see cref="Pipe"/>'s writer: a flush that leaves <see cref="ConnectionOptions.MaxOutputBufferSize"/>
/// or more bytes unsent waits until the transport has sent down to <see cref="ConnectionOptions.ResumeOutputBufferSize"/>,
/// and its continuation runs on the loop as posted work. The application may use it from any thread; every step
/// is a critical section (lock-free until another thread than the loop uses the pipes, see <see cref="PipeAffinity"/>),
/// and continuations run outside it.
/// </remarks>
internal sealed class ConnectionOutput : PipeWriter, IValueTaskSource<FlushResult>
{
    private readonly PipeConnection _connection;
    private SegmentChain? _chain;
    private short _version;
    private bool _awaiting;
    private bool _canceledByToken;
    private bool _cancelPending;
    private bool _writing;
    private bool _writerCompleted;
    private bool _readerCompleted;

    // What only a reset, a cancellable wait or a flowing execution context needs, kept apart so that the reader or
    // writer of an idle connection stays small.
    private RareWaitState _rare;

    public ConnectionOutput(PipeConnection connection) => _connection = connection;

    private PipePools Pools => _connection.Pools;

    // Every step is a critical section; the lock is taken only once another thread has used the pipes.
    private bool Enter() => _connection.Affinity.Enter(this, _connection.Loop);

    private void Exit(bool locked) => _connection.Affinity.Exit(this, locked);

    // The thresholds live in the connection's options, not in every writer: an idle connection's bytes count.
    private long PauseAt => _connection.Options.MaxOutputBufferSize;

    private long ResumeAt => _connection.Options.ResumeOutputBufferSize;

    /// <summary>Segments held (for tests: none while the connection is idle).</summary>
    internal bool HoldsSegments
    {
        get
        {
            bool locked = Enter();
            try
            {
                return _chain is not null;
            }
            finally
            {
                Exit(locked);
            }
        }
    }

    // ---------------------------------------------------------------- application side

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        bool locked = Enter();
        try
        {
            ThrowIfWriterCompleted();
            _chain ??= Pools.TakeChain();
            _writing = true;
            return _chain.GetMemory(sizeHint, Pools);
        }
        finally
        {
            Exit(locked);
        }
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void Advance(int bytes)
    {
        bool locked = Enter();
        try
        {
            ThrowIfWriterCompleted();
            if (_chain is null)
            {
                if (bytes == 0)
                {
                    return;
                }
                throw new InvalidOperationException("Advance was called without GetMemory or GetSpan first.");
            }
            _chain.Advance(bytes);
        }
        finally
        {
            Exit(locked);
        }
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes
    {
        get
        {
            bool locked = Enter();
            try
            {
                return _chain?.Unflushed ?? 0;
            }
            finally
            {
                Exit(locked);
            }
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ValueTask<FlushResult> result;
        bool locked = Enter();
        try
        {
            ThrowIfWriterCompleted();
            _writing = false;
            if (_readerCompleted)
            {
                // The connection is closed: nothing more can be sent, so the bytes go back at once.
                Pools.ReleaseChain(ref _chain);
                if (_rare.Error is { } error)
                {
                    throw error;
                }
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
            }
            if (_cancelPending)
            {
                _cancelPending = false;
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
            }
            SegmentChain? chain = _chain;
            if (chain is not null)
            {
                chain.Commit();
                if (chain.Unconsumed == 0)
                {
                    // Only an empty GetMemory since the last send: nothing to hold for an idle connection.
                    Pools.ReleaseChain(ref _chain);
                    chain = null;
                }
            }
            if (chain is null)
            {
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
            }
            if (_awaiting)
            {
                // A flush the application did not await is still waiting for room: this one waits with it (as a
                // pipe's writer does, only one of them can be awaited).
                result = new ValueTask<FlushResult>(this, _version);
            }
            else if (chain.Unconsumed < PauseAt)
            {
                result = new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: false));
            }
            else if (cancellationToken.IsCancellationRequested)
            {
                result = ValueTask.FromCanceled<FlushResult>(cancellationToken);
            }
            else
            {
                _awaiting = true;
                _canceledByToken = false;
                if (cancellationToken.CanBeCanceled)
                {
                    _rare.Token = cancellationToken;
                    _rare.Registration = cancellationToken.UnsafeRegister(static s => ((ConnectionOutput)s!).CancelByToken(), this);
                }
                result = new ValueTask<FlushResult>(this, _version);
            }
        }
        finally
        {
            Exit(locked);
        }
        _connection.RequestSend();
        return result;
    }

    public override void CancelPendingFlush()
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            if (!_awaiting)
            {
                _cancelPending = true;
                return;
            }
            _cancelPending = true;
            continuation = TakeContinuation(out state, out context);
        }
        finally
        {
            Exit(locked);
        }
        Post(continuation, state, context);
    }

    public override void Complete(Exception? exception = null)
    {
        bool send;
        bool locked = Enter();
        try
        {
            if (_writerCompleted)
            {
                return;
            }
            _writerCompleted = true;
            _writing = false;
            // What was written and not flushed is sent too, as a pipe's writer does on completion.
            _chain?.Commit();
            if (_readerCompleted || exception is not null)
            {
                Pools.ReleaseChain(ref _chain);
            }
            send = !_readerCompleted;
        }
        finally
        {
            Exit(locked);
        }
        if (exception is not null)
        {
            // Abort first: the send asked for below must find the socket closed.
            _connection.OnApplicationCompletedWithError("Output", exception);
        }
        if (send)
        {
            _connection.RequestSend();
        }
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Complete(exception);
        return default;
    }

    // ---------------------------------------------------------------- transport side (loop thread)

    /// <summary>What the transport may send, and whether the application completed (all of it is committed then).</summary>
    public ReadOnlySequence<byte> PeekUnsent(out bool completed)
    {
        bool locked = Enter();
        try
        {
            completed = _writerCompleted;
            return _chain?.Readable() ?? default;
        }
        finally
        {
            Exit(locked);
        }
    }

    /// <summary>
    /// The kernel took <paramref name="bytes"/>: give their segments back, and wake a flush waiting for room once the
    /// unsent bytes drop to the resume threshold.
    /// </summary>
    public void Sent(long bytes)
    {
        Action<object?>? continuation = null;
        object? state = null;
        ExecutionContext? context = null;
        bool locked = Enter();
        try
        {
            if (_chain is not { } chain)
            {
                return;
            }
            chain.ConsumeBytes(bytes, Pools, _writing);
            long unsent = chain.Unconsumed;
            if (chain.IsEmpty)
            {
                Pools.ReturnChain(ref _chain);
            }
            if (_awaiting && unsent <= ResumeAt)
            {
                continuation = TakeContinuation(out state, out context);
            }
        }
        finally
        {
            Exit(locked);
        }
        Post(continuation, state, context);
    }

    /// <summary>The transport is done with output (closed, reset, or everything sent after completion).</summary>
    public void CompleteReader(Exception? error)
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            if (_readerCompleted)
            {
                return;
            }
            _readerCompleted = true;
            _rare.Error = error;
            if (!_writing)
            {
                Pools.ReleaseChain(ref _chain);
            }
            continuation = TakeContinuation(out state, out context);
        }
        finally
        {
            Exit(locked);
        }
        Post(continuation, state, context);
    }

    // ---------------------------------------------------------------- IValueTaskSource

    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token)
    {
        bool locked = Enter();
        try
        {
            CheckToken(token);
            if (_awaiting)
            {
                return ValueTaskSourceStatus.Pending;
            }
            if (_canceledByToken)
            {
                return ValueTaskSourceStatus.Canceled;
            }
            return _rare.Error is not null ? ValueTaskSourceStatus.Faulted : ValueTaskSourceStatus.Succeeded;
        }
        finally
        {
            Exit(locked);
        }
    }

    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        bool locked = Enter();
        try
        {
            CheckToken(token);
            if (_awaiting)
            {
                // In the rare part: a flush waits only under backpressure, and an idle writer should stay small.
                _rare.State.Continuation = continuation;
                _rare.State.ContinuationState = state;
                _rare.Context = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
                return;
            }
        }
        finally
        {
            Exit(locked);
        }
        Post(continuation, state, null);
    }

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token)
    {
        CancellationTokenRegistration registration;
        FlushResult result;
        bool locked = Enter();
        try
        {
            CheckToken(token);
            if (_awaiting)
            {
                throw new InvalidOperationException("The flush has not completed yet; await it.");
            }
            _version++;
            registration = _rare.Registration;
            _rare.Registration = default;
            CancellationToken canceledBy = _rare.Token;
            _rare.Token = default;
            if (_canceledByToken)
            {
                _canceledByToken = false;
                registration.Dispose();
                throw new OperationCanceledException("The flush of the connection's Output was canceled.", canceledBy);
            }
            if (_rare.Error is { } error)
            {
                registration.Dispose();
                throw error;
            }
            bool canceled = _cancelPending;
            _cancelPending = false;
            result = new FlushResult(canceled, _readerCompleted);
        }
        finally
        {
            Exit(locked);
        }
        registration.Dispose();
        return result;
    }

    // ---------------------------------------------------------------- helpers (under the lock)

    private Action<object?>? TakeContinuation(out object? state, out ExecutionContext? context)
    {
        state = null;
        context = null;
        if (!_awaiting)
        {
            return null;
        }
        _awaiting = false;
        PipeWaitState rare = _rare.State;
        Action<object?>? continuation = rare.Continuation;
        state = rare.ContinuationState;
        context = _rare.Context;
        rare.Continuation = null;
        rare.ContinuationState = null;
        _rare.Context = null;
        return continuation;
    }

    private void CancelByToken()
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            if (!_awaiting)
            {
                return;
            }
            _canceledByToken = true;
            continuation = TakeContinuation(out state, out context);
        }
        finally
        {
            Exit(locked);
        }
        Post(continuation, state, context);
    }

    /// <summary>
    /// Runs the application's flush continuation on the loop as posted work (never inside the transport's send);
    /// once the loop is gone, on the thread pool, so an application waiting for room still learns the connection ended.
    /// </summary>
    private void Post(Action<object?>? continuation, object? state, ExecutionContext? context)
    {
        if (continuation is null)
        {
            return;
        }
        if (context is not null)
        {
            // Rare (a caller that asked for its execution context to flow): the wrapper is made only then.
            (continuation, state) = WithContext(continuation, state, context);
        }
        try
        {
            _connection.Loop.Post(continuation, state);
        }
        catch (ObjectDisposedException)
        {
            ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: false);
        }
    }

    private static (Action<object?>, object?) WithContext(Action<object?> continuation, object? state, ExecutionContext context) =>
        (static s =>
        {
            var (c, st, ec) = ((Action<object?>, object?, ExecutionContext))s!;
            ConnectionInput.Run(c, st, ec);
        }, (continuation, state, context));

    private void ThrowIfWriterCompleted()
    {
        if (_writerCompleted)
        {
            throw new InvalidOperationException("The connection's Output was completed: nothing more can be written.");
        }
    }

    private void CheckToken(short token)
    {
        if (token != _version)
        {
            throw new InvalidOperationException("This flush's result was already taken: a ValueTask from Output.FlushAsync may be awaited only once.");
        }
    }
}
