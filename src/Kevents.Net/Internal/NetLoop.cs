using System.Buffers;
using System.IO.Pipelines;

namespace Kevents.Net.Internal;

/// <summary>
/// Kevents.Net's state for one loop, kept as the loop's feature (<see cref="EventLoop.GetOrAddFeature{T}"/>): the
/// buffer stream connections read into, the connections whose close notification waits in posted work, and the
/// servers to close when the loop is disposed.
/// </summary>
/// <remarks>
/// The loop disposes its features after it stops and before it drops its unrun posted work, which is the moment both
/// jobs need: servers close their connections on the disposing thread rather than leave sockets to the finalizer,
/// then every close notification still waiting is delivered, so an application always hears that its connection
/// closed and its pipes complete. Servers go first because closing their connections may defer more notifications.
/// </remarks>
internal sealed class NetLoop : IDisposable
{
    private readonly List<SocketServer> _servers = [];
    private bool _disposed;

    private readonly EventLoop _loop;

    private NetLoop(EventLoop loop)
    {
        _loop = loop;
        PipeSends = new PipeSendScheduler(loop);
    }

    public ReadBuffer ReadBuffer { get; } = new(64 * 1024);

    public DeferredCloses DeferredCloses { get; } = new();

    /// <summary>The output pipes' reader scheduler: sends in the turn of the application's write.</summary>
    public PipeSendScheduler PipeSends { get; }

    private PipeOptions? _input;
    private PipeOptions? _output;

    /// <summary>
    /// Input pipe options for <paramref name="options"/>: the last ones made, when their thresholds and pool still
    /// match, so connections share one instance instead of each keeping its own. Any thread: a race only makes one
    /// more instance, and every instance is complete before it is published.
    /// </summary>
    public PipeOptions InputPipeOptions(ConnectionOptions options, int minimumSegmentSize)
    {
        MemoryPool<byte> pool = NetBuffers.Segments;
        PipeOptions? cached = _input;
        if (cached is null || cached.PauseWriterThreshold != options.MaxInputBufferSize || cached.Pool != pool
            || cached.MinimumSegmentSize != minimumSegmentSize)
        {
            // The application's read continuation runs inline, inside the Read kevent that filled the pipe: it is
            // already on the loop thread, and a posted hop would cost a whole loop turn per message. The transport's
            // resumption after backpressure is posted.
            _input = cached = new PipeOptions(
                pool: pool, readerScheduler: PipeScheduler.Inline, writerScheduler: _loop.PipeScheduler,
                pauseWriterThreshold: options.MaxInputBufferSize, resumeWriterThreshold: options.MaxInputBufferSize / 2,
                minimumSegmentSize: minimumSegmentSize, useSynchronizationContext: false);
        }
        return cached;
    }

    /// <summary>Output pipe options for <paramref name="options"/>, shared like <see cref="InputPipeOptions"/>. Any thread.</summary>
    public PipeOptions OutputPipeOptions(ConnectionOptions options)
    {
        MemoryPool<byte> pool = NetBuffers.Segments;
        PipeOptions? cached = _output;
        if (cached is null || cached.PauseWriterThreshold != options.MaxOutputBufferSize
            || cached.ResumeWriterThreshold != options.ResumeOutputBufferSize || cached.Pool != pool)
        {
            // Sends run in the turn of the application's write (PipeSends); the application's resumption after
            // backpressure is posted.
            _output = cached = new PipeOptions(
                pool: pool, readerScheduler: PipeSends, writerScheduler: _loop.PipeScheduler,
                pauseWriterThreshold: options.MaxOutputBufferSize, resumeWriterThreshold: options.ResumeOutputBufferSize,
                useSynchronizationContext: false);
        }
        return cached;
    }

    /// <summary>The loop's Net state, created on first use. Any thread.</summary>
    /// <exception cref="ObjectDisposedException">The loop was disposed before Net first used it.</exception>
    public static NetLoop Of(EventLoop loop) => loop.GetOrAddFeature(static l => new NetLoop(l));

    /// <summary>The loop's Net state if Net used the loop, else null. Any thread, also after the loop was disposed.</summary>
    public static NetLoop? Find(EventLoop loop) => loop.TryGetFeature(out NetLoop? net) ? net : null;

    /// <summary>
    /// Closes <paramref name="server"/> when the loop is disposed. A server stays listed for the loop's life (as a
    /// disposed one may still hold connections whose notifications are deferred); servers are few per loop.
    /// </summary>
    public void AddServer(SocketServer server)
    {
        lock (_servers)
        {
            _servers.Add(server);
        }
    }

    public void Dispose()
    {
        SocketServer[] servers;
        lock (_servers)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            servers = [.. _servers];
            _servers.Clear();
        }
        foreach (SocketServer server in servers)
        {
            server.CloseForLoopDisposal();
        }
        DeferredCloses.DeliverAll();
    }
}
