using System.Net;
using Kevents.Hosting.Internal;
using Kevents.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Kevents.Hosting;

/// <summary>
/// The Kevents hosted service: on start, an <see cref="EventLoopGroup"/> with the configured loops and every
/// registered listener; on stop, no new connections, a drain of the open ones until the host's shutdown timeout, then
/// an abort of the rest. Resolve it from the host's services to reach the group or a listener.
/// </summary>
public sealed class KeventsHost : IHostedService, IDisposable
{
    private readonly IOptions<KeventsOptions> _options;
    private readonly ListenerRegistry _registry;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Dictionary<string, SocketServerGroup> _listeners = new(StringComparer.OrdinalIgnoreCase);
    private EventLoopGroup? _group;
    private volatile int _state; // 0 new, 1 serving, 2 stopping, 3 stopped

    internal KeventsHost(IOptions<KeventsOptions> options, ListenerRegistry registry, ILoggerFactory? loggerFactory)
    {
        _options = options;
        _registry = registry;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger("Kevents.Hosting");
    }

    /// <summary>The loops, once the host has started.</summary>
    /// <exception cref="InvalidOperationException">The host has not started yet.</exception>
    public EventLoopGroup Group => _group ?? throw new InvalidOperationException(
        "KeventsHost.Group: the host has not started yet; the group exists from IHost.StartAsync (or Run) on.");

    /// <summary>True from the moment every listener serves until stopping begins; the health check reports unhealthy otherwise.</summary>
    public bool IsServing => _state == 1;

    /// <summary>The listener <paramref name="name"/> (case-insensitive), once the host has started.</summary>
    /// <exception cref="KeyNotFoundException">No listener of that name was registered with <see cref="KeventsBuilder"/>.</exception>
    public SocketServerGroup GetListener(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        lock (_listeners)
        {
            if (_listeners.TryGetValue(name, out SocketServerGroup? listener))
            {
                return listener;
            }
        }
        throw new KeyNotFoundException(_registry.Contains(name)
            ? $"Kevents listener '{name}' does not serve yet: the host has not started (or failed to start)."
            : $"No Kevents listener named '{name}': register it with AddKevents().ListenTcp(\"{name}\", ...).");
    }

    /// <summary>Creates and starts the loops and opens every listener. A failure stops and releases everything opened so far.</summary>
    /// <param name="cancellationToken">Ignored: starting does not wait.</param>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_state != 0)
        {
            throw new InvalidOperationException("KeventsHost.StartAsync: the host was started before; a host runs once.");
        }
        KeventsOptions options = _options.Value;
        var group = new EventLoopGroup(new EventLoopGroupOptions
        {
            LoopCount = options.Loops,
            PinToCpus = options.PinToCpus,
            LoggerFactory = _loggerFactory,
        });
        try
        {
            group.Start();
            _group = group;
            foreach (ListenerRegistration registration in _registry.All)
            {
                Open(group, options, registration);
            }
        }
        catch
        {
            DisposeListeners();
            group.Dispose();
            _group = null;
            _state = 3;
            throw;
        }
        _state = 1;
        return Task.CompletedTask;
    }

    private void Open(EventLoopGroup group, KeventsOptions options, ListenerRegistration registration)
    {
        KeventsListenerOptions settings = options.Listeners.GetValueOrDefault(registration.Name) ?? new KeventsListenerOptions();
        // The validator has checked the endpoint; parse it again here rather than carry state between them.
        IPEndPoint endPoint = IPEndPoint.Parse(settings.EndPoint ?? registration.DefaultEndPoint!);
        LoopDistribution distribution = settings.Distribution ?? options.Distribution;
        SocketServerGroup listener;
        try
        {
            listener = registration.Application is { } application
                ? group.ListenTcp(endPoint, application, settings.Server, distribution)
                : group.ListenTcp(endPoint, registration.Handler!, settings.Server, distribution);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidOperationException($"{SettingKey(registration.Name, ex.ParamName)}: {ex.Message}", ex);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new InvalidOperationException(
                $"Kevents:Listeners:{registration.Name}:EndPoint {endPoint} cannot be served: {ex.Message}", ex);
        }
        lock (_listeners)
        {
            _listeners.Add(registration.Name, listener);
        }
        HostingLog.Listening(_logger, registration.Name, listener.LocalEndPoint.ToString() ?? "?", group.Count, distribution.ToString());
    }

    /// <summary>
    /// Stops accepting on every listener, drains open connections until <paramref name="cancellationToken"/> is
    /// cancelled (the generic host cancels it when its shutdown timeout ends), aborts what is still open, and
    /// disposes the loops.
    /// </summary>
    /// <param name="cancellationToken">Ends the drain: connections still open are aborted.</param>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_state is 0 or 3 || _group is null)
        {
            _state = 3;
            return;
        }
        _state = 2;
        SocketServerGroup[] listeners;
        lock (_listeners)
        {
            listeners = [.. _listeners.Values];
        }
        HostingLog.Draining(_logger, listeners.Sum(l => l.ConnectionCount));
        // Infinite drain: the host's token, not a second timeout of ours, decides when to give up.
        Task drained = Task.WhenAll(listeners.Select(l => l.ShutdownAsync(Timeout.InfiniteTimeSpan)));
        try
        {
            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostingLog.DrainTimedOut(_logger, listeners.Sum(l => l.ConnectionCount));
        }
        long accepted = listeners.Sum(l => l.TotalAccepted);
        int open = listeners.Sum(l => l.ConnectionCount);
        DisposeListeners();
        _group.Dispose();
        await _group.Completion.ConfigureAwait(false);
        _state = 3;
        HostingLog.Stopped(_logger, accepted, open);
    }

    /// <summary>The configuration key of the server setting a validation error names, e.g. Kevents:Listeners:echo:Server:Backlog.</summary>
    private static string SettingKey(string listener, string? parameter)
    {
        string section = $"{KeventsServiceCollectionExtensions.SectionName}:Listeners:{listener}";
        if (parameter is null)
        {
            return section;
        }
        if (typeof(ServerOptions).GetProperty(parameter) is not null)
        {
            return $"{section}:Server:{parameter}";
        }
        return typeof(ConnectionOptions).GetProperty(parameter) is not null ? $"{section}:Server:Connection:{parameter}" : $"{section} ({parameter})";
    }

    private void DisposeListeners()
    {
        lock (_listeners)
        {
            foreach (SocketServerGroup listener in _listeners.Values)
            {
                listener.Dispose();
            }
        }
    }

    /// <summary>Aborts every connection and releases the loops, if <see cref="StopAsync"/> did not already.</summary>
    public void Dispose()
    {
        DisposeListeners();
        _group?.Dispose();
        _state = 3;
    }
}
