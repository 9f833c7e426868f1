using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.File.Internal;

/// <summary>
/// A loop's file engines: its io_uring engine (created on first use, or found unavailable once) and its threadlet
/// engine. Kept as the loop's feature (<see cref="EventLoop.GetOrAddFeature{T}"/>), so it lives as long as the loop;
/// the loop disposes it after it stops and before its descriptors close, and that shuts the engines down in the order
/// they were created: operations still in flight complete (or are handed over) instead of hanging.
/// </summary>
internal sealed class LoopFiles : IDisposable
{
    private readonly EventLoop _loop;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private AsyncFileOptions? _options;
    private UringEngine? _uring;
    private int _uringError;
    private ThreadletEngine? _threadlets;
    // The engines in the order they were created, which is the order they shut down in.
    private readonly List<AioEngine> _created = [];

    private LoopFiles(EventLoop loop)
    {
        _loop = loop;
        _logger = loop.LoggerFactory.CreateLogger("Kevents.File");
    }

    public static LoopFiles Of(EventLoop loop) => loop.GetOrAddFeature(static l => new LoopFiles(l));

    public void Dispose()
    {
        AioEngine[] engines;
        lock (_gate)
        {
            engines = [.. _created];
            _created.Clear();
        }
        foreach (AioEngine engine in engines)
        {
            engine.Shutdown();
        }
    }

    /// <summary>The options the loop's engines were set up with (the first ones given win).</summary>
    public AsyncFileOptions Options => _options ?? AsyncFileOptions.Default;

    /// <summary>The engine the options ask for. Loop thread, or before the loop runs.</summary>
    /// <exception cref="NotSupportedException">io_uring was asked for explicitly and cannot be used.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the exception names it).</exception>
    public AioEngine Engine(AsyncFileOptions? options)
    {
        options?.Validate();
        lock (_gate)
        {
            _options ??= options ?? AsyncFileOptions.Default;
            AsyncFileEngine requested = (options ?? _options).Engine;
            if (requested != AsyncFileEngine.Threadlet)
            {
                if (_uring is null && _uringError == 0)
                {
                    _uringError = UringEngine.TryCreate(_loop, _options, _logger, out _uring);
                    if (_uring is not null)
                    {
                        _created.Add(_uring);
                    }
                    if (_uringError < 0 && requested == AsyncFileEngine.Auto)
                    {
                        Log.FellBackToThreadlets(_logger, _loop.Name, UnavailableReason());
                    }
                }
                if (_uring is not null)
                {
                    return _uring;
                }
                if (requested == AsyncFileEngine.IoUring)
                {
                    throw new NotSupportedException(
                        $"io_uring is unavailable for loop '{_loop.Name}' ({UnavailableReason()}); use AsyncFileEngine.Auto to fall back to threadlets.");
                }
            }
            if (_threadlets is null)
            {
                _threadlets = new ThreadletEngine(_loop, _options);
                _created.Add(_threadlets);
            }
            return _threadlets;
        }
    }

    /// <summary>
    /// Why io_uring could not be used. The environment switch makes ring setup answer EPERM like a seccomp refusal;
    /// saying "EPERM" then would send an operator hunting for a sandbox that is not there.
    /// </summary>
    private string UnavailableReason() =>
        _uringError == -Errno.EPERM
            && Environment.GetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable) == "0"
            ? $"switched off by the environment: {IoUringSetupOptions.DisableEnvironmentVariable}=0"
            : Errno.Describe(-_uringError);

    /// <summary>The io_uring engine if it was created, for tests.</summary>
    internal UringEngine? Uring => _uring;

    /// <summary>The threadlet engine if it was created, for tests.</summary>
    internal ThreadletEngine? Threadlets => _threadlets;
}
