using Kevents.Hybrid.Internal;
using Kevents.File.Internal;
using Kevents.Native;

namespace Kevents.File;

/// <summary>
/// A file whose reads, writes, flushes and stats run asynchronously on an <see cref="EventLoop"/>: through the loop's
/// io_uring (completions arrive as Aio kevents in the loop's batch, beside socket and timer events), or through
/// threadlets where io_uring is unavailable or disabled (see <see cref="Engine"/>).
/// </summary>
/// <remarks>
/// <para><b>Threading.</b> Methods may be called from any thread; operations are started on the loop thread (a call
/// from elsewhere is posted there). Code awaiting on the loop thread resumes on the loop thread, inline as the
/// completion is handled; code awaiting elsewhere resumes on its own context or the thread pool.</para>
/// <para><b>Buffers.</b> A buffer passed to a read or write belongs to the operation until its task completes: it is
/// pinned until then, and the kernel may write into a read buffer until then, even after cancellation is requested.</para>
/// <para><b>Offsets.</b> Every operation names its offset: a byte position (0 or more), or -1 for the file's current
/// position (for pipes and FIFOs, or strictly sequential use: operations at -1 must not overlap). Any other negative
/// offset throws <see cref="ArgumentOutOfRangeException"/>; threadlet reads and writes follow the same rule. Operations
/// at explicit offsets may be in flight at once and complete in any order.</para>
/// <para><b>Cancellation.</b> Cancelling a token cancels the operation (io_uring: <c>IORING_OP_ASYNC_CANCEL</c>). The
/// task then always ends with <see cref="OperationCanceledException"/>, even when the kernel had already finished
/// the work: a cancelled write may have written, a cancelled read may have filled the buffer, and a cancelled open's
/// descriptor is closed, never leaked.</para>
/// <para><b>Close.</b> <see cref="Dispose"/> closes the descriptor; operations still in flight are not cancelled and
/// keep it open until they complete (the descriptor number is not reused under them); operations started after it
/// throw <see cref="ObjectDisposedException"/>.</para>
/// </remarks>
public sealed partial class AsyncFile : IAsyncDisposable, IDisposable
{
    private readonly AioEngine _engine;
    private readonly FileDescriptor _file;
    // Whether this file's reads were recently served from the page cache (the io_uring engine tries those inline).
    private readonly NoWaitHint _hint = new();
    // The SafeHandle stays open (not IsClosed) while operations in flight hold references; this says Dispose was called.
    private bool _disposed;

    private AsyncFile(AioEngine engine, FileDescriptor file, string path)
    {
        _engine = engine;
        _file = file;
        Path = path;
    }

    /// <summary>The path the file was opened with.</summary>
    public string Path { get; }

    /// <summary>The loop the file's operations run on.</summary>
    public EventLoop Loop => _engine.Loop;

    /// <summary>The engine running this file's operations: <see cref="AsyncFileEngine.IoUring"/> or <see cref="AsyncFileEngine.Threadlet"/>.</summary>
    public AsyncFileEngine Engine => _engine.Kind;

    /// <summary>
    /// The descriptor number (CLOEXEC, NONBLOCK), for other Kevents calls that take an fd (sendfile, the kevent form's
    /// <see cref="EventLoopAioExtensions.SubmitRead"/>), or -1 once the file is disposed. The file keeps owning it:
    /// close it by disposing the file, never directly.
    /// </summary>
    public int Descriptor => _file.Fd;

    /// <summary>
    /// Opens <paramref name="path"/> on <paramref name="loop"/>: an <c>openat</c> through io_uring, or a threadlet open
    /// (cached lookup inline, else a cache-miss thread). Relative paths resolve against the working directory.
    /// </summary>
    /// <param name="loop">The loop whose engine runs the file's operations.</param>
    /// <param name="path">The file to open.</param>
    /// <param name="flags">Access mode and options; the descriptor is always CLOEXEC and NONBLOCK.</param>
    /// <param name="options">Engine choice and settings. The loop's engine is set up by the first call that gives options (or by <see cref="EventLoopAioExtensions.UseAsyncFiles"/>).</param>
    /// <param name="cancellationToken">Cancels the open; a descriptor the kernel produced anyway is closed.</param>
    /// <exception cref="FileNotFoundException">The file does not exist; the message and FileName name it.</exception>
    /// <exception cref="UnauthorizedAccessException">Permission denied (EACCES or EPERM); the message names the path.</exception>
    /// <exception cref="IOException">Any other failure, with the errno in the message.</exception>
    /// <exception cref="NotSupportedException"><see cref="AsyncFileEngine.IoUring"/> was requested and io_uring cannot be used.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    public static ValueTask<AsyncFile> OpenAsync(EventLoop loop, string path, FileOpenFlags flags = FileOpenFlags.ReadOnly,
        AsyncFileOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loop);
        ArgumentNullException.ThrowIfNull(path);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<AsyncFile>(cancellationToken);
        }
        if (loop.IsRunning && !loop.IsOnLoopThread)
        {
            // The engine is created and registered on the loop thread; hop there first.
            return new ValueTask<AsyncFile>(OpenFromOtherThread(loop, path, flags, options, cancellationToken));
        }
        return OpenOnLoop(loop, path, flags, NativeFile.ToNativeOpenFlags(flags), options, cancellationToken);
    }

    /// <summary>
    /// Opens with raw open(2) flags, for tests that need an open the kernel really waits on (a FIFO opened without
    /// O_NONBLOCK blocks in an io_uring worker until a writer appears). Loop thread only.
    /// </summary>
    internal static ValueTask<AsyncFile> OpenWithNativeFlagsAsync(EventLoop loop, string path, int nativeFlags,
        AsyncFileOptions? options, CancellationToken cancellationToken) =>
        OpenOnLoop(loop, path, FileOpenFlags.ReadOnly, nativeFlags, options, cancellationToken);

    private static async ValueTask<AsyncFile> OpenOnLoop(EventLoop loop, string path, FileOpenFlags flags, int nativeFlags,
        AsyncFileOptions? options, CancellationToken cancellationToken)
    {
        LoopFiles files = LoopFiles.Of(loop);
        AioEngine engine = files.Engine(options);
        int rc = NativeFile.EncodePath(path, out byte[]? encoded);
        if (rc < 0)
        {
            throw FileErrors.For(rc, "open", path);
        }
        var op = new AwaitableOperation(loop);
        op.SetOpen(path, encoded!, flags, nativeFlags, (options ?? files.Options).CreateMode);
        op.WatchCancellation(engine, cancellationToken);
        engine.Start(op);
        int fd = await op.Task.ConfigureAwait(false);
        return new AsyncFile(engine, op.TakeOpenedFile(fd), path);
    }

    private static Task<AsyncFile> OpenFromOtherThread(EventLoop loop, string path, FileOpenFlags flags,
        AsyncFileOptions? options, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<AsyncFile>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(async () =>
        {
            try
            {
                done.TrySetResult(await OpenOnLoop(loop, path, flags, NativeFile.ToNativeOpenFlags(flags), options, cancellationToken));
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        });
        return done.Task;
    }

    /// <summary>
    /// Reads up to <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>. Returns the bytes read: 0 at end
    /// of file, and possibly fewer than asked (use <see cref="ReadExactlyAsync"/> or <see cref="ReadAtLeastAsync"/> when
    /// that matters).
    /// </summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken = default)
    {
        FileOffset.Check(offset);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        AwaitableOperation op = _engine.RentOperation();
        op.SetRead(CheckOpen(), -1, buffer, offset, Path);
        op.Hint = _hint;
        return Run(op, cancellationToken);
    }

    /// <summary>
    /// Writes all of <paramref name="buffer"/> at <paramref name="offset"/>, issuing further writes after a short one.
    /// Returns the bytes written (the buffer's length).
    /// </summary>
    public async ValueTask<int> WriteAsync(ReadOnlyMemory<byte> buffer, long offset, CancellationToken cancellationToken = default)
    {
        FileOffset.Check(offset);
        int written = 0;
        while (written < buffer.Length)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AwaitableOperation op = _engine.RentOperation();
            op.SetWrite(CheckOpen(), -1, buffer[written..], FileOffset.Advance(offset, written), Path);
            int n = await Run(op, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException($"Could not write to '{Path}': the kernel accepted 0 bytes at offset {FileOffset.Advance(offset, written)}.");
            }
            written += n;
        }
        return written;
    }

    /// <summary>Makes written data durable: fsync, or fdatasync when <paramref name="dataOnly"/> (skips metadata such as timestamps).</summary>
    /// <remarks>Only writes that completed before this call are covered: operations in flight complete in any order.</remarks>
    public ValueTask FlushAsync(bool dataOnly = false, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }
        AwaitableOperation op = NewOperation();
        op.SetFsync(CheckOpen(), -1, dataOnly, Path);
        op.WatchCancellation(_engine, cancellationToken);
        _engine.Start(op);
        return op.VoidTask;
    }

    /// <summary>The file's status (length, mode, inode, modification time) from statx of the open descriptor.</summary>
    public async ValueTask<FileStatus> StatAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        AwaitableOperation op = NewOperation();
        op.SetStat(CheckOpen(), -1, Path);
        await Run(op, cancellationToken).ConfigureAwait(false);
        return op.Status;
    }

    /// <summary>The file's length in bytes (a statx of the open descriptor).</summary>
    public async ValueTask<long> GetLengthAsync(CancellationToken cancellationToken = default) =>
        (await StatAsync(cancellationToken).ConfigureAwait(false)).Length;

    /// <summary>
    /// Closes the descriptor: at once when no operation is in flight, else when the last one completes. Operations in
    /// flight are not cancelled: they run to completion on the still-open descriptor (a read fills its buffer and
    /// returns its count); cancel them with their token first if their result is no longer wanted. Every operation
    /// started after Dispose throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        _file.Dispose();
    }

    /// <summary>Closes the descriptor, as <see cref="Dispose"/> does: closing a local file does not block.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    /// <inheritdoc />
    public override string ToString() => $"AsyncFile '{Path}' ({Engine}, {_file})";

    private AwaitableOperation NewOperation() => new(_engine.Loop);

    private ValueTask<int> Run(AwaitableOperation op, CancellationToken cancellationToken)
    {
        op.WatchCancellation(_engine, cancellationToken);
        _engine.Start(op);
        return op.Task;
    }

    private FileDescriptor CheckOpen()
    {
        if (Volatile.Read(ref _disposed) || _file.IsClosed)
        {
            throw new ObjectDisposedException(nameof(AsyncFile), $"The file '{Path}' is closed; open it again with AsyncFile.OpenAsync.");
        }
        return _file;
    }
}
