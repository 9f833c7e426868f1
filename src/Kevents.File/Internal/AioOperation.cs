using System.Buffers;
using System.Diagnostics;
using Kevents.Native;

namespace Kevents.File.Internal;

// One file operation: what to run (kind, descriptor, buffer, offset, path) and where its single result goes.
//
// Protocol. Every field below is touched on the loop thread only (or by the engine's shutdown, once the loop has stopped).
// State moves New -> Backlogged (no SQE free yet) -> Submitted -> Done, or New/Backlogged -> Done when cancelled before
// it reached the kernel. Complete is the only way into Done and runs once; the engine guarantees one call per
// operation, and Debug.Assert holds it to that. Pins (buffer, path, statx buffer) and the descriptor's SafeHandle
// reference are released in Complete, never earlier: the kernel may write to them until the completion is reaped.
//
// Cancellation wins: once CancelRequested is set, the operation reports -ECANCELED whatever the kernel answered. A
// descriptor that an open produced anyway is closed here, so a cancelled or abandoned open never leaks (tokio #7979).
// Close is the exception: it reports its real result once the kernel performed it (see Complete).
internal abstract class AioOperation
{
    private MemoryHandle _pin;
    private MemoryHandle _pathPin;
    private MemoryHandle _statxPin;
    private bool _fileRef;

    public AioKind Kind { get; private set; }

    public AioOperationState State { get; set; }

    /// <summary>The operation id: the SQE's user data and the Ident of its Aio kevent. Assigned by the engine.</summary>
    public ulong Id { get; set; }

    public bool CancelRequested { get; set; }

    /// <summary>The threadlet engine's: cancels the operation's threadlet while it is offloaded. Loop thread.</summary>
    public CancellationTokenSource? OffloadCancellation { get; set; }

    /// <summary>True when the operation completed without ever reaching an engine on the loop (the loop was disposed first).</summary>
    public bool NeverStarted { get; private set; }

    public FileDescriptor? File { get; private set; }

    public int Fd { get; private set; } = -1;

    public Memory<byte> Buffer { get; private set; }

    public long Offset { get; private set; }

    public byte[]? Path { get; private set; }

    public string? PathText { get; private set; }

    public FileOpenFlags OpenFlags { get; private set; }

    /// <summary>The open(2) flags io_uring uses (normally <see cref="NativeFile.ToNativeOpenFlags"/> of <see cref="OpenFlags"/>).</summary>
    public int NativeOpenFlags { get; private set; }

    /// <summary>What a successful stat found.</summary>
    public FileStatus Status { get; set; }

    public UnixFileMode CreateMode { get; private set; }

    public bool DataOnly { get; private set; }

    public byte[]? StatxBuffer { get; private set; }

    /// <summary>
    /// A descriptor a threadlet open produced, owned here until the result is handed over. Written by the cache-miss
    /// thread, possibly while the engine's shutdown abandons the operation: see <see cref="AdoptOpenedFile"/>.
    /// </summary>
    public FileDescriptor? OpenedFile
    {
        get => Volatile.Read(ref _openedFile);
        set => Volatile.Write(ref _openedFile, value);
    }

    private FileDescriptor? _openedFile;
    private volatile bool _abandoned;

    /// <summary>
    /// Cache-miss thread: stores the descriptor an open produced. If the engine's shutdown abandoned the operation
    /// meanwhile, whichever side takes the descriptor out of the field (an exchange, so exactly one) closes it.
    /// </summary>
    public void AdoptOpenedFile(FileDescriptor file)
    {
        Interlocked.Exchange(ref _openedFile, file);
        if (_abandoned)
        {
            Interlocked.Exchange(ref _openedFile, null)?.Dispose();
        }
    }

    /// <summary>
    /// Whether a read's data was recently found in the page cache: the io_uring engine's guide for trying
    /// <c>preadv2(RWF_NOWAIT)</c> inline first. Per file for <see cref="AsyncFile"/>; null for the kevent form.
    /// </summary>
    public NoWaitHint? Hint { get; set; }

    public MemoryHandle Pin => _pin;

    public MemoryHandle PathPin => _pathPin;

    public MemoryHandle StatxPin => _statxPin;

    public void SetOpen(string path, byte[] encodedPath, FileOpenFlags flags, int nativeFlags, UnixFileMode mode)
    {
        Kind = AioKind.Open;
        PathText = path;
        Path = encodedPath;
        OpenFlags = flags;
        NativeOpenFlags = nativeFlags;
        CreateMode = mode;
    }

    public void SetRead(FileDescriptor? file, int fd, Memory<byte> buffer, long offset, string? path)
    {
        Kind = AioKind.Read;
        SetTarget(file, fd, path);
        Buffer = buffer;
        Offset = offset;
    }

    public void SetWrite(FileDescriptor? file, int fd, ReadOnlyMemory<byte> buffer, long offset, string? path)
    {
        Kind = AioKind.Write;
        SetTarget(file, fd, path);
        // The kernel only reads a write's buffer; the cast lets both directions share one pin.
        Buffer = System.Runtime.InteropServices.MemoryMarshal.AsMemory(buffer);
        Offset = offset;
    }

    public void SetFsync(FileDescriptor? file, int fd, bool dataOnly, string? path)
    {
        Kind = AioKind.Fsync;
        SetTarget(file, fd, path);
        DataOnly = dataOnly;
    }

    public void SetStat(FileDescriptor? file, int fd, string? path)
    {
        Kind = AioKind.Stat;
        SetTarget(file, fd, path);
        StatxBuffer = new byte[IoUringRing.StatxBufferSize];
    }

    public void SetClose(int fd, string? path)
    {
        Kind = AioKind.Close;
        Fd = fd;
        PathText = path;
    }

    /// <summary>Pins what the kernel will touch and holds a reference on the descriptor. Called once, before the first attempt.</summary>
    public void Acquire()
    {
        if (File is { } file)
        {
            bool added = false;
            // Keeps the descriptor number from being closed and reused while the kernel may still use it; a Dispose
            // meanwhile takes effect when the last reference goes.
            file.DangerousAddRef(ref added);
            _fileRef = added;
            Fd = file.Fd;
        }
        if (Kind is AioKind.Read or AioKind.Write)
        {
            _pin = Buffer.Pin();
        }
        if (Path is { } path)
        {
            _pathPin = path.AsMemory().Pin();
        }
        if (StatxBuffer is { } statx)
        {
            _statxPin = statx.AsMemory().Pin();
        }
    }

    /// <summary>
    /// Delivers the result (a count, a descriptor, 0 or -errno). Exactly once, on the loop thread or in the shutdown
    /// hook (<paramref name="shuttingDown"/>), after which the kernel no longer touches anything of this operation.
    /// </summary>
    public void Complete(int result, bool shuttingDown = false)
    {
        Debug.Assert(State != AioOperationState.Done, "an operation completes exactly once");
        NeverStarted = State == AioOperationState.New && shuttingDown;
        State = AioOperationState.Done;
        if (shuttingDown)
        {
            // A thread may still be finishing this operation; a descriptor it stores from now on is closed by it.
            _abandoned = true;
            Interlocked.Exchange(ref _openedFile, null)?.Dispose();
        }
        if (Kind == AioKind.Open && result >= 0 && (CancelRequested || shuttingDown))
        {
            // Nobody will take this descriptor: the awaiter cancelled, or the loop it would resume on is gone.
            (OpenedFile ?? new FileDescriptor(result)).Dispose();
            OpenedFile = null;
        }
        if (Kind == AioKind.Stat && result == 0 && StatxBuffer is { } statx && Status == default)
        {
            Status = NativeFile.ParseStatx(statx);
        }
        // A close is the exception to "cancellation wins": once the kernel has it, it cannot be undone, and a caller
        // told "cancelled" would believe it still owns the number and might close it again after it was reused. So a
        // close reports what happened: -ECANCELED only when it never ran.
        if ((CancelRequested || (shuttingDown && Kind == AioKind.Open)) && Kind != AioKind.Close)
        {
            result = -Errno.ECANCELED;
        }
        Release();
        OnCompleted(result, shuttingDown);
    }

    /// <summary>Takes ownership of the descriptor a successful open produced.</summary>
    public FileDescriptor TakeOpenedFile(int result)
    {
        FileDescriptor file = OpenedFile ?? new FileDescriptor(result);
        OpenedFile = null;
        return file;
    }

    /// <summary>
    /// Clears everything a completed operation held, so a pool can hand it out again. Loop thread, after the result
    /// was taken; Complete has released the pins and the descriptor reference already.
    /// </summary>
    protected void ResetForReuse()
    {
        Debug.Assert(State == AioOperationState.Done && !_fileRef);
        Kind = default;
        State = AioOperationState.New;
        Id = 0;
        CancelRequested = false;
        OffloadCancellation = null;
        NeverStarted = false;
        File = null;
        Fd = -1;
        Buffer = default;
        Offset = 0;
        Path = null;
        PathText = null;
        OpenFlags = default;
        NativeOpenFlags = 0;
        Status = default;
        CreateMode = default;
        DataOnly = false;
        StatxBuffer = null;
        _openedFile = null;
        _abandoned = false;
        Hint = null;
    }

    /// <summary>Where the result goes: an awaiter or an Aio kevent.</summary>
    protected abstract void OnCompleted(int result, bool shuttingDown);

    private void SetTarget(FileDescriptor? file, int fd, string? path)
    {
        File = file;
        Fd = fd;
        PathText = path;
    }

    private void Release()
    {
        _pin.Dispose();
        _pathPin.Dispose();
        _statxPin.Dispose();
        _pin = default;
        _pathPin = default;
        _statxPin = default;
        if (_fileRef)
        {
            _fileRef = false;
            File!.DangerousRelease();
        }
    }
}

/// <summary>Where an <see cref="AioOperation"/> is in its life.</summary>
internal enum AioOperationState : byte
{
    /// <summary>Created, not yet given to an engine (or waiting for the loop thread).</summary>
    New,
    /// <summary>Waiting for room in the submission queue.</summary>
    Backlogged,
    /// <summary>In the submission queue or in the kernel (io_uring), or running on a thread (threadlets).</summary>
    Submitted,
    /// <summary>Completed; nothing of it is in use any more.</summary>
    Done,
}
