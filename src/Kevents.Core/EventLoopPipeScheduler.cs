using System.IO.Pipelines;

namespace Kevents;

/// <summary>
/// A <see cref="PipeScheduler"/> that runs pipe callbacks on a loop's thread, as posted work (phase 3 of a turn).
/// Pass it as a pipe's reader and writer scheduler so that pipe continuations never leave the loop.
/// </summary>
internal sealed class EventLoopPipeScheduler : PipeScheduler
{
    private readonly EventLoop _loop;

    /// <summary>Creates the scheduler of <paramref name="loop"/>.</summary>
    public EventLoopPipeScheduler(EventLoop loop) => _loop = loop ?? throw new ArgumentNullException(nameof(loop));

    /// <inheritdoc />
    public override void Schedule(Action<object?> action, object? state) => _loop.Post(action, state);
}
