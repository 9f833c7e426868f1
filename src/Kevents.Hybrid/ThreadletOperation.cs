using System.Runtime.CompilerServices;
using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

/// <summary>
/// The awaitable result of a threadlet primitive. When the kernel answered at once it holds the result and
/// <c>await</c> continues synchronously, allocating nothing. When the kernel said "would block", awaiting it hands
/// the blocking call to a cache-miss thread, and the code after the <c>await</c> continues on that thread.
/// </summary>
/// <remarks>Await it once, immediately, inside the threadlet that created it; the blocking work starts when it is awaited.</remarks>
public readonly struct ThreadletOperation<T>
{
    private readonly T _result;
    private readonly PendingOp<T>? _pending;
    private readonly short _version;

    internal ThreadletOperation(T result)
    {
        _result = result;
        _pending = null;
        _version = 0;
    }

    internal ThreadletOperation(PendingOp<T> pending)
    {
        _result = default!;
        _pending = pending;
        _version = pending.Version;
    }

    /// <summary>True when the kernel answered without blocking and the result is here.</summary>
    public bool IsCompleted => _pending is null;

    /// <summary>Gets the awaiter.</summary>
    public Awaiter GetAwaiter() => new(this);

    /// <summary>Awaits a <see cref="ThreadletOperation{T}"/>.</summary>
    public readonly struct Awaiter : ICriticalNotifyCompletion
    {
        private readonly ThreadletOperation<T> _operation;

        internal Awaiter(ThreadletOperation<T> operation) => _operation = operation;

        /// <summary>True when the result is available without waiting.</summary>
        public bool IsCompleted => _operation._pending is null;

        /// <summary>The result, or the operation's exception.</summary>
        public T GetResult() => _operation._pending is { } pending ? pending.GetResult(_operation._version) : _operation._result;

        /// <summary>Queues the blocking work; <paramref name="continuation"/> runs on the cache-miss thread afterwards.</summary>
        public void OnCompleted(Action continuation)
        {
            ExecutionContext? context = ExecutionContext.Capture();
            if (context is null)
            {
                UnsafeOnCompleted(continuation);
                return;
            }
            UnsafeOnCompleted(() => ExecutionContext.Run(context, static c => ((Action)c!)(), continuation));
        }

        /// <summary>Queues the blocking work without flowing the ExecutionContext (the async builder flows it).</summary>
        public void UnsafeOnCompleted(Action continuation)
        {
            ArgumentNullException.ThrowIfNull(continuation);
            if (_operation._pending is not { } pending)
            {
                continuation();
                return;
            }
            pending.Submit(continuation);
        }
    }
}

/// <summary>A <see cref="ThreadletOperation{T}"/> with no result (close).</summary>
public readonly struct ThreadletOperation
{
    private readonly ThreadletOperation<int> _inner;

    internal ThreadletOperation(ThreadletOperation<int> inner) => _inner = inner;

    /// <summary>True when the operation finished without blocking.</summary>
    public bool IsCompleted => _inner.IsCompleted;

    /// <summary>Gets the awaiter.</summary>
    public Awaiter GetAwaiter() => new(_inner.GetAwaiter());

    /// <summary>Awaits a <see cref="ThreadletOperation"/>.</summary>
    public readonly struct Awaiter : ICriticalNotifyCompletion
    {
        private readonly ThreadletOperation<int>.Awaiter _inner;

        internal Awaiter(ThreadletOperation<int>.Awaiter inner) => _inner = inner;

        /// <summary>True when the operation finished without blocking.</summary>
        public bool IsCompleted => _inner.IsCompleted;

        /// <summary>Throws the operation's exception, if any.</summary>
        public void GetResult() => _inner.GetResult();

        /// <inheritdoc cref="ThreadletOperation{T}.Awaiter.OnCompleted"/>
        public void OnCompleted(Action continuation) => _inner.OnCompleted(continuation);

        /// <inheritdoc cref="ThreadletOperation{T}.Awaiter.UnsafeOnCompleted"/>
        public void UnsafeOnCompleted(Action continuation) => _inner.UnsafeOnCompleted(continuation);
    }
}
