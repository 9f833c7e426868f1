using Kevents.Native;

namespace Kevents.Hybrid;

/// <summary>
/// A syslet chain: a short sequence of file steps on one file (open, stat, read, write, close) submitted as one
/// unit. It runs as a threadlet, so its steps go inline on the loop one after another until one would block; that
/// step and the rest run on a cache-miss thread; the chain completes once. The first failing step stops the chain:
/// later steps do not run, and the file the chain opened is closed all the same.
/// </summary>
/// <example><code>
/// var chain = Syslet.Open(path).Stat().Read(buffer, offset: 0).Close();
/// SysletResult r = await loop.RunSyslet(chain);
/// </code></example>
/// <remarks>Build a chain once and run it as often as needed; runs sharing a buffer must not overlap.</remarks>
public sealed class Syslet
{
    private readonly List<Step> _steps = [];
    private readonly string _path;
    private readonly FileOpenFlags _flags;
    private readonly Func<Threadlet, ValueTask<SysletResult>> _run;
    private readonly Func<Threadlet, ValueTask<long>> _runForKevent;

    private Syslet(string path, FileOpenFlags flags)
    {
        _path = path;
        _flags = flags;
        _steps.Add(new Step(SysletStepKind.Open, default, default, 0));
        _run = RunAsync;
        _runForKevent = RunForKeventAsync;
    }

    /// <summary>Starts a chain whose first step opens <paramref name="path"/>.</summary>
    public static Syslet Open(string path, FileOpenFlags flags = FileOpenFlags.ReadOnly)
    {
        ArgumentNullException.ThrowIfNull(path);
        return new Syslet(path, flags);
    }

    /// <summary>Adds a stat of the open file; the result lands in <see cref="SysletResult.Status"/>.</summary>
    public Syslet Stat() => Add(new Step(SysletStepKind.Stat, default, default, 0));

    /// <summary>Adds a read into <paramref name="buffer"/> at <paramref name="offset"/>; bytes add up in <see cref="SysletResult.BytesRead"/>.</summary>
    public Syslet Read(Memory<byte> buffer, long offset = 0)
    {
        Internal.FileOffset.Check(offset);
        return Add(new Step(SysletStepKind.Read, buffer, default, offset));
    }

    /// <summary>Adds a write of <paramref name="data"/> at <paramref name="offset"/> (-1: at the file position).</summary>
    public Syslet Write(ReadOnlyMemory<byte> data, long offset = -1)
    {
        Internal.FileOffset.Check(offset);
        return Add(new Step(SysletStepKind.Write, default, data, offset));
    }

    /// <summary>Adds the close. A chain without one still closes its file when it ends.</summary>
    public Syslet Close() => Add(new Step(SysletStepKind.Close, default, default, 0));

    /// <summary>The steps, in order.</summary>
    public IReadOnlyList<SysletStepKind> Steps => _steps.ConvertAll(s => s.Kind);

    internal Func<Threadlet, ValueTask<SysletResult>> Body => _run;

    internal Func<Threadlet, ValueTask<long>> KeventBody => _runForKevent;

    private Syslet Add(Step step)
    {
        _steps.Add(step);
        return this;
    }

    private async ValueTask<SysletResult> RunAsync(Threadlet t)
    {
        ThreadletFile file = default;
        FileStatus status = default;
        int read = 0;
        int written = 0;
        int index = 0;
        try
        {
            for (; index < _steps.Count; index++)
            {
                Step step = _steps[index];
                switch (step.Kind)
                {
                    case SysletStepKind.Open:
                        file = await t.OpenAsync(_path, _flags);
                        break;
                    case SysletStepKind.Stat:
                        status = await t.StatAsync(file);
                        break;
                    case SysletStepKind.Read:
                        read += await t.ReadAsync(file, step.Buffer, step.Offset);
                        break;
                    case SysletStepKind.Write:
                        written += await t.WriteAsync(file, step.Data, step.Offset);
                        break;
                    case SysletStepKind.Close:
                        await t.CloseAsync(file);
                        break;
                }
            }
            return new SysletResult(index, -1, null, status, read, written);
        }
        catch (Exception ex)
        {
            return new SysletResult(index, index, ex, status, read, written);
        }
        finally
        {
            // Whatever happened, the chain does not leak the descriptor it opened.
            file.Dispose();
        }
    }

    private async ValueTask<long> RunForKeventAsync(Threadlet t)
    {
        SysletResult result = await RunAsync(t);
        result.ThrowIfFailed();
        return result.BytesRead + result.BytesWritten;
    }

    private readonly record struct Step(SysletStepKind Kind, Memory<byte> Buffer, ReadOnlyMemory<byte> Data, long Offset);
}

/// <summary>The kinds of step a <see cref="Syslet"/> chain can hold.</summary>
public enum SysletStepKind
{
    /// <summary>Open the chain's file (always the first step).</summary>
    Open,
    /// <summary>Stat the open file.</summary>
    Stat,
    /// <summary>Read into a buffer.</summary>
    Read,
    /// <summary>Write from a buffer.</summary>
    Write,
    /// <summary>Close the file.</summary>
    Close,
}

/// <summary>The single outcome of a <see cref="Syslet"/> chain. Errors are values here: check <see cref="Succeeded"/>.</summary>
/// <param name="StepsCompleted">How many steps succeeded, counting from the first.</param>
/// <param name="FailedStep">The index of the step that failed, or -1.</param>
/// <param name="Error">The failing step's exception (FileNotFoundException naming the path, ...), or null.</param>
/// <param name="Status">What a Stat step found.</param>
/// <param name="BytesRead">Bytes read by all Read steps.</param>
/// <param name="BytesWritten">Bytes written by all Write steps.</param>
public readonly record struct SysletResult(int StepsCompleted, int FailedStep, Exception? Error, FileStatus Status, int BytesRead, int BytesWritten)
{
    /// <summary>True when every step succeeded.</summary>
    public bool Succeeded => FailedStep < 0;

    /// <summary>Throws the failing step's exception, if any.</summary>
    public void ThrowIfFailed()
    {
        if (Error is { } error)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
    }
}
