using Kevents.Net;

namespace Kevents.Hosting;

/// <summary>
/// Settings of the Kevents hosted service, bound from the configuration section <c>Kevents</c> (appsettings.json,
/// environment variables such as <c>Kevents__Loops=4</c>, command-line arguments such as <c>--Kevents:Loops=4</c>) and
/// then adjusted by the delegate given to <see cref="KeventsServiceCollectionExtensions.AddKevents"/>. Validated when
/// the host starts: a bad value stops the start with a message naming its configuration key.
/// </summary>
public sealed class KeventsOptions
{
    /// <summary>How many loops (and threads) serve. Default <see cref="Environment.ProcessorCount"/>; at least 1.</summary>
    public int Loops { get; set; } = Environment.ProcessorCount;

    /// <summary>Pins loop i to CPU i (<see cref="EventLoopGroupOptions.PinToCpus"/>). Default false.</summary>
    public bool PinToCpus { get; set; }

    /// <summary>How listeners spread connections over the loops unless a listener says otherwise. Default <see cref="LoopDistribution.ReusePort"/>.</summary>
    public LoopDistribution Distribution { get; set; } = LoopDistribution.ReusePort;

    /// <summary>
    /// The health check (<see cref="KeventsHealthChecksBuilderExtensions.AddKevents"/>) reports a loop unhealthy when
    /// work posted to it waits longer than this before it runs. Default 1 s; between 1 ms and 1 hour.
    /// </summary>
    public TimeSpan MaxLoopLag { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The listeners by name (case-insensitive): <c>Kevents:Listeners:echo:EndPoint=127.0.0.1:7000</c>. Each name
    /// needs a handler registered in code with <see cref="KeventsBuilder.ListenTcp(string, IStreamHandler, string)"/> or
    /// its overloads, and each handler needs an endpoint, from configuration or from that call's default.
    /// </summary>
    public Dictionary<string, KeventsListenerOptions> Listeners { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One listener's settings: configuration keys <c>Kevents:Listeners:NAME:...</c>.</summary>
public sealed class KeventsListenerOptions
{
    /// <summary>Where to listen: an IPv4 or IPv6 address and port, <c>127.0.0.1:7000</c>, <c>[::1]:7000</c>, <c>0.0.0.0:0</c> (port 0 picks a free port).</summary>
    public string? EndPoint { get; set; }

    /// <summary>How this listener spreads connections over the loops. Default: <see cref="KeventsOptions.Distribution"/>.</summary>
    public LoopDistribution? Distribution { get; set; }

    /// <summary>Limits, timeouts and buffers of this listener's server on each loop (limits are per loop): <c>Kevents:Listeners:NAME:Server:MaxConnections</c>.</summary>
    public ServerOptions Server { get; set; } = new();
}
