using Kevents.Hybrid.Internal;

namespace Kevents.Hybrid;

/// <summary>Threadlets on an <see cref="EventLoop"/>: code that runs inline on the loop and moves to a thread only when it would block.</summary>
public static class EventLoopThreadletExtensions
{
    /// <summary>
    /// Creates the loop's threadlet runtime with <paramref name="options"/>. Call it once, before the first threadlet;
    /// without it the first threadlet creates a runtime with default options.
    /// </summary>
    /// <exception cref="InvalidOperationException">The runtime already exists (a threadlet ran, or this was called before).</exception>
    public static ThreadletRuntime UseThreadlets(this EventLoop loop, ThreadletOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ThreadletOptions validated = (options ?? new ThreadletOptions()).Validate();
        ThreadletRuntime runtime = loop.GetOrAddFeature(l => new HybridLoop(new ThreadletRuntime(l, validated))).Runtime;
        if (runtime.Options != validated || !runtime.TryAttach())
        {
            throw new InvalidOperationException(
                $"The loop '{loop.Name}' already has a threadlet runtime. Call UseThreadlets once, before the first threadlet runs on this loop.");
        }
        return runtime;
    }

    /// <summary>The loop's threadlet runtime (metrics, test switch, shutdown), created with default options if needed.</summary>
    public static ThreadletRuntime GetThreadletRuntime(this EventLoop loop)
    {
        ArgumentNullException.ThrowIfNull(loop);
        if (loop.TryGetFeature(out HybridLoop? existing) && existing.Runtime.IsAttached)
        {
            return existing.Runtime;
        }
        ThreadletRuntime runtime = loop.GetOrAddFeature(static l => new HybridLoop(new ThreadletRuntime(l, new ThreadletOptions()))).Runtime;
        runtime.TryAttach();
        return runtime;
    }

    /// <summary>
    /// Runs <paramref name="body"/> as a threadlet: inline on the loop thread, right now, until a primitive would
    /// block; then on a cache-miss thread. Completes with the body's result; code awaiting it on the loop resumes on
    /// the loop thread (after a Threadlet completion kevent when the body left the loop), code awaiting it on
    /// another thread resumes on the thread pool.
    /// </summary>
    /// <remarks>
    /// Called on the loop thread, a threadlet that never blocks completes before this returns and allocates nothing
    /// here. Called from another thread, the threadlet is posted to the loop and starts there. Cancelling
    /// <paramref name="cancellationToken"/> cancels queued blocking work at once and is observed by running work.
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The loop is shutting down.</exception>
    public static ValueTask<T> Threadlet<T>(this EventLoop loop, Func<Threadlet, ValueTask<T>> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(body);
        return loop.GetThreadletRuntime().Start(body, cancellationToken);
    }

    /// <summary>Runs <paramref name="body"/>, which has no result, as a threadlet; see <see cref="Threadlet{T}"/>.</summary>
    public static ValueTask Threadlet(this EventLoop loop, Func<Threadlet, ValueTask> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(body);
        ValueTask<bool> task = loop.GetThreadletRuntime().Start(new VoidBody(body).Invoke, cancellationToken, kindOf: body);
        if (task.IsCompletedSuccessfully)
        {
            return default;
        }
        return new ValueTask(task.AsTask());
    }

    /// <summary>
    /// The kevent form: starts <paramref name="body"/> as a threadlet and returns its id. Its completion arrives as a
    /// kevent with <c>Filter = Threadlet</c>, <c>Ident</c> = the id, <c>UserData</c> = <paramref name="userData"/>,
    /// <c>Data</c> = the body's result, or <see cref="KeventFlags.Error"/> with <c>Data</c> = -errno when it failed
    /// (ENOENT, EACCES, ECANCELED, EAGAIN for a full queue, EIO otherwise). The kevent goes to
    /// <paramref name="handler"/>, or to <see cref="EventLoop.Poll"/> when it is null. It is always delivered in a later
    /// batch, never during this call. Loop thread only.
    /// </summary>
    public static ulong SubmitThreadlet(this EventLoop loop, Func<Threadlet, ValueTask<long>> body, ulong userData = 0,
        KeventHandler? handler = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(body);
        return loop.GetThreadletRuntime().StartKevent(body, userData, handler, cancellationToken);
    }

    /// <summary>
    /// Runs a <see cref="Syslet"/> chain as one threadlet: inline step by step until one would block, the rest on a
    /// cache-miss thread, one completion. Stops at the first failing step (see <see cref="SysletResult.FailedStep"/>).
    /// </summary>
    public static ValueTask<SysletResult> RunSyslet(this EventLoop loop, Syslet chain, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(chain);
        return loop.GetThreadletRuntime().Start(chain.Body, cancellationToken);
    }

    /// <summary>
    /// The kevent form of <see cref="RunSyslet"/>: one Threadlet kevent whose Data is the bytes read plus written, or
    /// Error with -errno of the failing step. Loop thread only; see <see cref="SubmitThreadlet"/>.
    /// </summary>
    public static ulong SubmitSyslet(this EventLoop loop, Syslet chain, ulong userData = 0, KeventHandler? handler = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(chain);
        return loop.GetThreadletRuntime().StartKevent(chain.KeventBody, userData, handler, cancellationToken);
    }

    internal static string Describe(Delegate d) => $"{d.Method.DeclaringType?.Name}.{d.Method.Name}";

    /// <summary>Adapts a body without a result; adaptive routing keys on the caller's method, not this adapter.</summary>
    private sealed class VoidBody(Func<Threadlet, ValueTask> body)
    {
        public async ValueTask<bool> Invoke(Threadlet threadlet)
        {
            await body(threadlet).ConfigureAwait(false);
            return true;
        }
    }
}
