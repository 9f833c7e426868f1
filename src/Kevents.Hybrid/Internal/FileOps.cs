using Kevents.Native;

namespace Kevents.Hybrid.Internal;

// The blocking halves of the file primitives: what a cache-miss thread does after the cached attempt said EAGAIN.
// Each calls the same blocking helper a threadlet uses once it is already off the loop.

internal sealed class OpenOp(Threadlet owner, string path, FileOpenFlags flags, UnixFileMode mode) : PendingOp<ThreadletFile>(owner, WorkClass.Short)
{
    public override string Describe() => $"open '{path}'";

    protected override void Execute() => Result = Owner.OpenBlocking(path, flags, mode);
}

internal sealed class ReadOp(Threadlet owner, ThreadletFile file, Memory<byte> buffer, long offset) : PendingOp<int>(owner, WorkClass.Short)
{
    public override string Describe() => $"read {file}";

    protected override void Execute() => Result = Owner.ReadBlocking(file, buffer.Span, offset);
}

internal sealed class WriteOp(Threadlet owner, ThreadletFile file, ReadOnlyMemory<byte> buffer, long offset) : PendingOp<int>(owner, WorkClass.Short)
{
    public override string Describe() => $"write {file}";

    protected override void Execute() => Result = Owner.WriteBlocking(file, buffer.Span, offset);
}

internal sealed class StatPathOp(Threadlet owner, string path) : PendingOp<FileStatus>(owner, WorkClass.Short)
{
    public override string Describe() => $"stat '{path}'";

    protected override void Execute() => Result = Owner.StatBlocking(path);
}

internal sealed class StatFileOp(Threadlet owner, ThreadletFile file) : PendingOp<FileStatus>(owner, WorkClass.Short)
{
    public override string Describe() => $"stat {file}";

    protected override void Execute() => Result = Owner.StatBlocking(file);
}

internal sealed class CloseOp(Threadlet owner, ThreadletFile file) : PendingOp<int>(owner, WorkClass.Short)
{
    public override string Describe() => $"close {file}";

    protected override void Execute()
    {
        file.Dispose();
        Result = 0;
    }
}

internal sealed class BlockingOp<T, TWork>(Threadlet owner, Func<CancellationToken, TWork, T> run, TWork work, WorkClass workClass) : PendingOp<T>(owner, workClass)
    where TWork : Delegate
{
    private Func<CancellationToken, TWork, T> _run = run;
    private TWork _work = work;

    public override string Describe() => _work is null ? "blocking work" : $"blocking work {EventLoopThreadletExtensions.Describe(_work)}";

    protected override void Execute() => Result = Owner.RunBlocking(_run, _work);

    /// <summary>Loop thread: takes the op out of its owner's spare slot for the owner's next blocking call.</summary>
    public void Reuse(Func<CancellationToken, TWork, T> run, TWork work, WorkClass workClass)
    {
        ResetForReuse(workClass);
        _run = run;
        _work = work;
    }

    protected override void Recycle()
    {
        _work = null!;
        Owner.SpareOp = this;
    }
}

/// <summary>A whole threadlet routed straight to a thread: running it is starting its body there.</summary>
internal sealed class StartOp(Threadlet owner, ThreadletCompletion completion) : PendingOp<int>(owner, WorkClass.Short)
{
    public override string Describe() => "start";

    protected override void Execute()
    {
    }

    protected override void Resume()
    {
        if (Error is { } error)
        {
            completion.Fail(error);
            return;
        }
        completion.StartBody();
    }

    protected override void ResumeAfterCancel() => completion.Fail(Error!);
}
