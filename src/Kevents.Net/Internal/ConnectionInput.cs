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
/// The application may use it from any thread, so every step takes the object's lock (uncontended: one thread's CAS);
/// continuations always run outside it.
/// </remarks>
internal sealed class ConnectionInput : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly PipeConnection _connection;
    private readonly PipePools _pools;
    private readonly long _pauseAt;
    private readonly long _resumeAt;
    private SegmentChain? _chain;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private ExecutionContext? _executionContext;
    private Exception? _writerError;
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _cancellationToken;
    private short _version;
    private bool _awaiting;
    private bool _canceledByToken;
    private bool _cancelPending;
    private bool _reading;
    private bool _readerCompleted;
    private bool _writerCompleted;
    private bool _transportWriting;
    private bool _paused;

    public ConnectionInput(PipeConnection connection, PipePools pools, long maxBuffered)
    {
        _connection = connection;
        _pools = pools;
        _pauseAt = maxBuffered;
        _resumeAt = maxBuffered / 2;
    }

    /// <summary>True once the application completed the reader.</summary>
    public bool IsReaderCompleted => Volatile.Read(ref _readerCompleted);

    /// <summary>Segments held (for tests: none while the connection is idle).</summary>
    internal bool HoldsSegments
    {
        get
        {
            lock (this)
            {
                return _chain is not null;
            }
        }
    }

    // ---------------------------------------------------------------- transport side (loop thread)

    /// <summary>Memory for one read from the socket, or empty when the application no longer reads.</summary>
    public Memory<byte> BeginWrite(int size)
    {
        lock (this)
        {
            if (_readerCompleted || _writerCompleted)
            {
                return default;
            }
            _chain ??= _pools.TakeChain();
            _transportWriting = true;
            return _chain.GetMemory(size, _pools);
        }
    }

    /// <summary>
    /// Ends a write begun by <see cref="BeginWrite"/>: <paramref name="bytes"/> become readable and a waiting read
    /// completes, running the application inline. Returns true when the transport should stop reading (the cap).
    /// </summary>
    public bool EndWrite(int bytes)
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        lock (this)
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
                ReleaseChain();
                return false;
            }
            chain.Advance(bytes);
            chain.Commit();
            if (chain.Unconsumed == 0)
            {
                // Nothing arrived and nothing was waiting: no buffer for an idle connection.
                ReleaseChain();
                return false;
            }
            continuation = TakeContinuation(out state, out context);
        }
        Run(continuation, state, context);
        lock (this)
        {
            if (_chain is { } chain && !_readerCompleted && chain.Unconsumed >= _pauseAt)
            {
                _paused = true;
                return true;
            }
            return false;
        }
    }

    /// <summary>The transport's end of input: FIN (null) or a reset. Wakes a waiting read.</summary>
    public void CompleteWriter(Exception? error)
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        lock (this)
        {
            if (_writerCompleted)
            {
                return;
            }
            _writerCompleted = true;
            _writerError = error;
            continuation = TakeContinuation(out state, out context);
        }
        Run(continuation, state, context);
    }

    // ---------------------------------------------------------------- application side

    public override bool TryRead(out ReadResult result)
    {
        lock (this)
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
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        lock (this)
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
                _cancellationToken = cancellationToken;
                _cancellation = cancellationToken.UnsafeRegister(static s => ((ConnectionInput)s!).CancelByToken(), this);
            }
            return new ValueTask<ReadResult>(this, _version);
        }
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        bool resume = false;
        lock (this)
        {
            if (!_reading)
            {
                if (_readerCompleted)
                {
                    return;
                }
                throw new InvalidOperationException("AdvanceTo was called with no read to complete: call it once after each ReadAsync or TryRead.");
            }
            _reading = false;
            if (_chain is { } chain)
            {
                Consume(chain, consumed, examined);
            }
            if (_paused && (_chain?.Unconsumed ?? 0) < _resumeAt)
            {
                _paused = false;
                resume = true;
            }
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
        chain.ConsumeTo(consumed, consumedAt, _pools, _transportWriting);
        if (chain.IsEmpty)
        {
            ReturnChain();
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
        lock (this)
        {
            _cancelPending = true;
            continuation = TakeContinuation(out state, out context);
        }
        Run(continuation, state, context);
    }

    public override void Complete(Exception? exception = null)
    {
        lock (this)
        {
            if (_readerCompleted)
            {
                return;
            }
            _readerCompleted = true;
            _reading = false;
            if (!_transportWriting)
            {
                ReleaseChain();
            }
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
        lock (this)
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
            return _writerError is not null && !HasUnexamined ? ValueTaskSourceStatus.Faulted : ValueTaskSourceStatus.Succeeded;
        }
    }

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        lock (this)
        {
            CheckToken(token);
            if (_awaiting)
            {
                _continuation = continuation;
                _continuationState = state;
                _executionContext = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
                return;
            }
        }
        continuation(state);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        CancellationTokenRegistration registration;
        ReadResult result;
        lock (this)
        {
            CheckToken(token);
            if (_awaiting)
            {
                throw new InvalidOperationException("The read has not completed yet; await it.");
            }
            _version++;
            registration = _cancellation;
            _cancellation = default;
            if (_canceledByToken)
            {
                _canceledByToken = false;
                CancellationToken canceled = _cancellationToken;
                _cancellationToken = default;
                registration.Dispose();
                throw new OperationCanceledException("The read from the connection's Input was canceled.", canceled);
            }
            _cancellationToken = default;
            ThrowIfReaderCompleted();
            result = TakeResult();
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
        if (_writerError is { } error && !HasUnexamined && !canceled)
        {
            // A reset shows once the bytes that arrived before it are consumed, so a truncated upload never looks
            // complete and no byte that did arrive is lost.
            throw error;
        }
        _reading = true;
        return new ReadResult(buffer, canceled, _writerCompleted && _writerError is null);
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
        context = _executionContext;
        _continuation = null;
        _continuationState = null;
        _executionContext = null;
        return continuation;
    }

    private void CancelByToken()
    {
        Action<object?>? continuation;
        object? state;
        ExecutionContext? context;
        lock (this)
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
        Run(continuation, state, context);
    }

    private void ReleaseChain()
    {
        if (_chain is { } chain)
        {
            chain.ReleaseAll(_pools);
            ReturnChain();
        }
    }

    private void ReturnChain()
    {
        SegmentChain chain = _chain!;
        _chain = null;
        _pools.ReturnChain(chain);
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
