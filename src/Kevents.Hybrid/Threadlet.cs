using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

/// <summary>
/// The handle a threadlet body receives: its primitives first ask the kernel for an answer that does not block
/// and, when the kernel says it would (EAGAIN), continue the rest of the body on a cache-miss thread.
/// </summary>
/// <remarks>
/// <para><b>Where the body runs.</b> A threadlet starts inline on the loop thread. Until a primitive would block, it
/// stays there: no thread hop, no allocation beyond the results. After that, the code following the blocking
/// <c>await</c> runs on a cache-miss thread, and later primitives simply block on that thread. So a threadlet body
/// must not touch loop-owned state after its first primitive: return what it found instead; the awaiting code
/// resumes on the loop thread.</para>
/// <para><b>Lifetime.</b> The handle belongs to the runtime and is reused once the threadlet completes; do not keep it.</para>
/// </remarks>
public sealed partial class Threadlet
{
    private CancellationToken _token;
    private CancellationToken _effectiveToken;
    private CancellationTokenSource? _offloadedToken;
    private volatile string? _step;
    // A string, or a delegate described only when a shutdown report asks (formatting it per call would allocate).
    private object? _stepTarget;

    internal Threadlet(ThreadletRuntime runtime) => Runtime = runtime;

    internal ThreadletRuntime Runtime { get; }

    /// <summary>The loop this threadlet belongs to.</summary>
    public EventLoop Loop => Runtime.Loop;

    /// <summary>The threadlet's id: the Ident of its completion kevent.</summary>
    public ulong Id { get; private set; }

    /// <summary>
    /// Cancelled when the caller cancels the threadlet, and, once it runs on a cache-miss thread, also when the loop
    /// shuts down. Pass it to blocking code that accepts one.
    /// </summary>
    public CancellationToken CancellationToken => _effectiveToken;

    /// <summary>True while the body runs on its loop's thread; false once it moved to a cache-miss thread.</summary>
    public bool IsOnLoop => Runtime.Loop.IsOnLoopThread;

    internal KindRouter.Kind? Kind { get; private set; }

    internal bool Offloaded { get; private set; }

    internal long OffloadedAt { get; private set; }

    internal bool IsCancellationRequested => _token.IsCancellationRequested || Runtime.IsShuttingDown;

    /// <summary>What the threadlet is doing off the loop, for shutdown reports.</summary>
    internal string DescribeStep() => _step is { } step ? (_stepTarget switch
    {
        null => step,
        Delegate d => $"{step} {EventLoopThreadletExtensions.Describe(d)}",
        var target => $"{step} {target}",
    }) : "its body";

    /// <summary>The body, for names in logs and reports.</summary>
    internal Delegate? Body { get; set; }

    internal void Reset(ulong id, CancellationToken token, KindRouter.Kind? kind)
    {
        Id = id;
        Body = null;
        _token = token;
        _effectiveToken = token;
        Kind = kind;
        Offloaded = false;
        OffloadedAt = 0;
        _offloadedToken = null;
        _step = null;
        _stepTarget = null;
    }

    /// <summary>Loop thread: the threadlet is about to leave the loop (its first blocking op, or a cold start).</summary>
    internal void MarkOffloaded(long now)
    {
        if (Offloaded)
        {
            return;
        }
        Offloaded = true;
        OffloadedAt = now;
        // Off the loop the threadlet must also hear about shutdown. Without a caller token the shutdown token is
        // exactly that; only a cancellable caller token needs a linked source (an allocation and two registrations).
        if (_token.CanBeCanceled)
        {
            _offloadedToken = CancellationTokenSource.CreateLinkedTokenSource(_token, Runtime.ShutdownToken);
            _effectiveToken = _offloadedToken.Token;
        }
        else
        {
            _effectiveToken = Runtime.ShutdownToken;
        }
    }

    /// <summary>The caller's own token: what queued work must watch (shutdown cancels queued work by itself).</summary>
    internal CancellationToken CallerToken => _token;

    /// <summary>Called when the threadlet is done with its cancellation link.</summary>
    internal void ReleaseOffloadedToken()
    {
        _offloadedToken?.Dispose();
        _offloadedToken = null;
        _effectiveToken = _token;
    }

    /// <summary>
    /// A finished blocking op of this handle that its next blocking call may reuse (the handle itself is pooled, so
    /// this pools the op too). Written by whichever thread consumed the op's result, read on the loop thread after
    /// the threadlet's completion came back through the ring, which orders the two.
    /// </summary>
    internal PendingOp? SpareOp;

    /// <summary>The awaitable completion that last carried this handle, kept for reuse with it.</summary>
    internal ThreadletCompletion? SpareCompletion;

    private void ThrowIfCancelled()
    {
        if (IsCancellationRequested)
        {
            throw new OperationCanceledException(_token.IsCancellationRequested ? _token : Runtime.ShutdownToken);
        }
    }

    private void EnterStep(string step, object? target)
    {
        _stepTarget = target;
        _step = step;
    }

    private void LeaveStep() => _step = null;
}
