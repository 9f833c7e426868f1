using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace Kevents.Net.Internal;

/// <summary>
/// <see cref="PipeConnection.Input"/>: the loop reads the socket straight into this reader's segments, which it takes
/// when bytes arrive and gives back once the application has consumed them, so an idle connection holds no buffer.
/// A read with bytes waiting completes at once; one without parks the application (through this object, reused for
/// every read) until the loop's next read delivers, and its continuation runs inline, inside that read's kevent.
/// </summary>
/// <remarks>
/// Semantics follow <see cref="Pipe"/>'s reader: AdvanceTo(consumed, examined) with examined at the end makes the next
/// read wait for more bytes; CancelPendingRead completes the pending (or next) read with IsCanceled; the transport's
/// completion shows as IsCompleted once every byte was examined, or as the transport's exception (a reset) then.
/// The application may use it from any thread, so every step is a critical section: lock-free while only the loop
/// thread has used the connection's pipes, under the object's lock once another thread has (<see cref="PipeAffinity"/>);
/// continuations always run outside it.
/// </remarks>
internal sealed class ConnectionInput : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly PipeConnection _connection;
    private SegmentChain? _chain;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private short _version;
    private bool _awaiting;
    private bool _canceledByToken;
    private bool _cancelPending;
    private bool _reading;
    private bool _readerCompleted;
    private bool _writerCompleted;
    private bool _transportWriting;
    private bool _paused;

    // What only a reset, a cancellable wait or a flowing execution context needs, kept apart so that the reader or
    // writer of an idle connection stays small.
    private RareWaitState _rare;

    public ConnectionInput(PipeConnection connection) => _connection = connection;

    private PipePools Pools => _connection.Pools;

    // Every step is a critical section; the lock is taken only once another thread has used the pipes.
    private bool Enter() => _connection.Affinity.Enter(this, _connection.Loop);

    private void Exit(bool locked) => _connection.Affinity.Exit(this, locked);

    // The thresholds live in the connection's options, not in every reader: an idle connection's bytes count.
    private long PauseAt => _connection.Options.MaxInputBufferSize;

    private long ResumeAt => _connection.Options.MaxInputBufferSize / 2;

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

    // ---------------------------------------------------------------- transport side (loop thread)

    /// <summary>Memory for one read from the socket, or empty when the application no longer reads.</summary>
    public Memory<byte> BeginWrite(int size)
    {
        bool locked = Enter();
        try
        {
            if (_readerCompleted || _writerCompleted)
            {
                return default;
            }
            _chain ??= Pools.TakeChain();
            _transportWriting = true;
            return _chain.GetMemory(size, Pools);
        }
        finally
        {
            Exit(locked);
        }
    }

    /// <summary>
    /// Ends a write begun by <see cref="BeginWrite"/>: <paramref name="bytes"/> become readable and a waiting read
    /// completes, running the application inline. Returns true when the transport should stop reading (the cap).
    /// </summary>
    public bool EndWrite(int bytes)
    {
        bool below;
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            _transportWriting = false;
            SegmentChain? chain = _chain;
            if (chain is null)
            {
                return false;
            }
            if (_readerCompleted)
            {
                // The application completed Input while the read ran: drop what it will never read.
                Pools.ReleaseChain(ref _chain);
                return false;
            }
            chain.Advance(bytes);
            chain.Commit();
            if (chain.Unconsumed == 0)
            {
                // Nothing arrived and nothing was waiting: no buffer for an idle connection.
                Pools.ReleaseChain(ref _chain);
                return false;
            }
            continuation = TakeContinuation(out state, out context);
            // Below the cap now, and the application can only consume: no second look is needed after it ran.
            below = chain.Unconsumed < PauseAt;
        }
        finally
        {
            Exit(locked);
        }
        Resume(continuation, state, context);
        if (below)
        {
            return false;
        }
        locked = Enter();
        try
        {
            if (_chain is { } chain && !_readerCompleted && chain.Unconsumed >= PauseAt)
            {
                _paused = true;
                return true;
            }
            return false;
        }
        finally
        {
            Exit(locked);
        }
    }

    /// <summary>The transport's end of input: FIN (null) or a reset. Wakes a waiting read.</summary>
    public void CompleteWriter(Exception? error)
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            if (_writerCompleted)
            {
                return;
            }
            _writerCompleted = true;
            _rare.Error = error;
            continuation = TakeContinuation(out state, out context);
        }
        finally
        {
            Exit(locked);
        }
        Resume(continuation, state, context);
    }

    // ---------------------------------------------------------------- application side

    public override bool TryRead(out ReadResult result)
    {
        bool locked = Enter();
        try
        {
            ThrowIfReaderCompleted();
            if (_awaiting)
            {
                throw new InvalidOperationException("A read is already pending on this connection's Input; await it before reading again.");
            }
            if (_cancelPending || _writerCompleted || (_chain is { } chain && chain.Unconsumed > 0))
            {
                result = TakeResult();
                return true;
            }
            result = default;
            return false;
        }
        finally
        {
            Exit(locked);
        }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        bool locked = Enter();
        try
        {
            ThrowIfReaderCompleted();
            if (_awaiting)
            {
                throw new InvalidOperationException("A read is already pending on this connection's Input; await it before reading again.");
            }
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<ReadResult>(cancellationToken);
            }
            if (IsReadable)
            {
                return new ValueTask<ReadResult>(TakeResult());
            }
            _awaiting = true;
            _canceledByToken = false;
            if (cancellationToken.CanBeCanceled)
            {
                _rare.Token = cancellationToken;
                _rare.Registration = cancellationToken.UnsafeRegister(static s => ((ConnectionInput)s!).CancelByToken(), this);
            }
            return new ValueTask<ReadResult>(this, _version);
        }
        finally
        {
            Exit(locked);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        bool resume = false;
        bool locked = Enter();
        try
        {
            if (!_reading)
            {
                if (_readerCompleted)
                {
                    return;
                }
                throw new InvalidOperationException("AdvanceTo was called with no read to complete: call it once after each ReadAsync or TryRead.");
            }
            if (_chain is { } chain)
            {
                // Checked before the read counts as done: a call with bad positions can be corrected.
                Consume(chain, consumed, examined);
            }
            _reading = false;
            if (_paused && (_chain?.Unconsumed ?? 0) < ResumeAt)
            {
                _paused = false;
                resume = true;
            }
        }
        finally
        {
            Exit(locked);
        }
        if (resume)
        {
            _connection.ResumeAfterBackpressure();
        }
    }

    private void Consume(SegmentChain chain, SequencePosition consumed, SequencePosition examined)
    {
        long consumedAt = chain.AbsoluteOf(consumed);
        long examinedAt = chain.AbsoluteOf(examined);
        if (examinedAt < consumedAt)
        {
            throw new InvalidOperationException("The examined position must not be before the consumed position.");
        }
        chain.ConsumeTo(consumed, consumedAt, Pools, _transportWriting);
        if (chain.IsEmpty)
        {
            Pools.ReturnChain(ref _chain);
        }
        else
        {
            chain.Examined = Math.Max(chain.Examined, examinedAt);
        }
    }

    public override void CancelPendingRead()
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        bool locked = Enter();
        try
        {
            _cancelPending = true;
            continuation = TakeContinuation(out state, out context);
        }
        finally
        {
            Exit(locked);
        }
        Resume(continuation, state, context);
    }

    public override void Complete(Exception? exception = null)
    {
        bool locked = Enter();
        try
        {
            if (_readerCompleted)
            {
                return;
            }
            _readerCompleted = true;
            _reading = false;
            if (!_transportWriting)
            {
                Pools.ReleaseChain(ref _chain);
            }
        }
        finally
        {
            Exit(locked);
        }
        if (exception is not null)
        {
            _connection.OnApplicationCompletedWithError("Input", exception);
        }
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        Complete(exception);
        return default;
    }

    // ---------------------------------------------------------------- IValueTaskSource

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token)
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
            return _rare.Error is not null && !HasUnexamined ? ValueTaskSourceStatus.Faulted : ValueTaskSourceStatus.Succeeded;
        }
        finally
        {
            Exit(locked);
        }
    }

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        bool locked = Enter();
        try
        {
            CheckToken(token);
            if (_awaiting)
            {
                _continuation = continuation;
                _continuationState = state;
                _rare.Context = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
                return;
            }
        }
        finally
        {
            Exit(locked);
        }
        continuation(state);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        CancellationTokenRegistration registration;
        ReadResult result;
        bool locked = Enter();
        try
        {
            CheckToken(token);
            if (_awaiting)
            {
                throw new InvalidOperationException("The read has not completed yet; await it.");
            }
            _version++;
            registration = _rare.Registration;
            _rare.Registration = default;
            if (_canceledByToken)
            {
                _canceledByToken = false;
                CancellationToken canceled = _rare.Token;
                _rare.Token = default;
                registration.Dispose();
                throw new OperationCanceledException("The read from the connection's Input was canceled.", canceled);
            }
            _rare.Token = default;
            ThrowIfReaderCompleted();
            result = TakeResult();
        }
        finally
        {
            Exit(locked);
        }
        registration.Dispose();
        return result;
    }

    // ---------------------------------------------------------------- helpers (under the lock)

    private bool HasUnexamined => _chain is { } chain && chain.Committed > chain.Examined;

    private bool IsReadable => _cancelPending || _writerCompleted || HasUnexamined;

    private ReadResult TakeResult()
    {
        bool canceled = _cancelPending;
        _cancelPending = false;
        ReadOnlySequence<byte> buffer = _chain?.Readable() ?? default;
        if (_rare.Error is { } error && !HasUnexamined && !canceled)
        {
            // A reset shows once the bytes that arrived before it are consumed, so a truncated upload never looks
            // complete and no byte that did arrive is lost.
            throw error;
        }
        _reading = true;
        return new ReadResult(buffer, canceled, _writerCompleted && _rare.Error is null);
    }

    private Action<object?>? TakeContinuation(out object? state, out ExecutionContext? context)
    {
        state = null;
        context = null;
        if (!_awaiting || !IsReadable)
        {
            return null;
        }
        _awaiting = false;
        Action<object?>? continuation = _continuation;
        state = _continuationState;
        context = _rare.Context;
        _continuation = null;
        _continuationState = null;
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
            _cancelPending = true;
            continuation = TakeContinuation(out state, out context);
            _cancelPending = false;
        }
        finally
        {
            Exit(locked);
        }
        Resume(continuation, state, context);
    }

    private void ThrowIfReaderCompleted()
    {
        if (_readerCompleted)
        {
            throw new InvalidOperationException("The connection's Input was completed: it cannot be read any more.");
        }
    }

    private void CheckToken(short token)
    {
        if (token != _version)
        {
            throw new InvalidOperationException("This read's result was already taken: a ValueTask from Input.ReadAsync may be awaited only once.");
        }
    }

    /// <summary>
    /// Runs the waiting read's continuation (taken under the lock, run after it is released), then lets the
    /// connection see whether the application ended or now waits on something other than this reader.
    /// </summary>
    private void Resume(Action<object?>? continuation, object? state, ExecutionContext? context)
    {
        if (continuation is null)
        {
            return;
        }
        Run(continuation, state, context);
        _connection.ApplicationResumed();
    }

    /// <summary>
    /// True while <paramref name="application"/>'s own async method waits on a read from this reader: the awaiter
    /// hands the method's state machine box, which is the task it returned, as the continuation's state.
    /// </summary>
    internal bool IsAwaitedBy(Task application)
    {
        bool locked = Enter();
        try
        {
            return _awaiting && ReferenceEquals(_continuationState, application);
        }
        finally
        {
            Exit(locked);
        }
    }

    /// <summary>Runs a continuation taken under the lock, after it is released.</summary>
    internal static void Run(Action<object?>? continuation, object? state, ExecutionContext? context)
    {
        if (continuation is null)
        {
            return;
        }
        if (context is null)
        {
            continuation(state);
            return;
        }
        ExecutionContext.Run(context, static s =>
        {
            var (c, st) = ((Action<object?>, object?))s!;
            c(st);
        }, (continuation, state));
    }
}
