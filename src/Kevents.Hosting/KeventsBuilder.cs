using Kevents.Hosting.Internal;
using Kevents.Net;
using Microsoft.Extensions.DependencyInjection;

namespace Kevents.Hosting;

/// <summary>Adds listeners to the Kevents hosted service. Returned by <see cref="KeventsServiceCollectionExtensions.AddKevents"/>.</summary>
public sealed class KeventsBuilder
{
    internal KeventsBuilder(IServiceCollection services, ListenerRegistry registry)
    {
        Services = services;
        Registry = registry;
    }

    /// <summary>The service collection the hosted service was added to.</summary>
    public IServiceCollection Services { get; }

    internal ListenerRegistry Registry { get; }

    /// <summary>
    /// Serves the listener <paramref name="name"/> with the low-level stream API: <paramref name="handler"/> gets every
    /// connection's bytes on the thread of the loop that serves it (one instance for every loop, so per-connection
    /// state belongs in <see cref="StreamConnection.State"/>). The endpoint comes from configuration,
    /// <c>Kevents:Listeners:NAME:EndPoint</c>; without it the host does not start.
    /// </summary>
    /// <param name="name">The listener's name, the key of its configuration section <c>Kevents:Listeners:NAME</c>.</param>
    /// <param name="handler">Receives every connection's events.</param>
    public KeventsBuilder ListenTcp(string name, IStreamHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(new ListenerRegistration(name, null, handler, null));
    }

    /// <summary>As <see cref="ListenTcp(string, IStreamHandler)"/>, listening on <paramref name="defaultEndPoint"/> when configuration gives no endpoint.</summary>
    /// <param name="name">The listener's name, the key of its configuration section <c>Kevents:Listeners:NAME</c>.</param>
    /// <param name="handler">Receives every connection's events.</param>
    /// <param name="defaultEndPoint">Where to listen unless configuration says otherwise, such as <c>127.0.0.1:7000</c>.</param>
    public KeventsBuilder ListenTcp(string name, IStreamHandler handler, string defaultEndPoint)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(new ListenerRegistration(name, defaultEndPoint, handler, null));
    }

    /// <summary>
    /// Serves the listener <paramref name="name"/> with pipes: <paramref name="application"/> runs once per connection,
    /// on the thread of the loop that serves it, as with a single loop's <c>ListenTcp</c>. The endpoint comes from
    /// configuration, <c>Kevents:Listeners:NAME:EndPoint</c>; without it the host does not start.
    /// </summary>
    /// <param name="name">The listener's name, the key of its configuration section <c>Kevents:Listeners:NAME</c>.</param>
    /// <param name="application">Runs once per connection.</param>
    public KeventsBuilder ListenTcp(string name, Func<PipeConnection, Task> application)
    {
        ArgumentNullException.ThrowIfNull(application);
        return Add(new ListenerRegistration(name, null, null, application));
    }

    /// <summary>As <see cref="ListenTcp(string, Func{PipeConnection, Task})"/>, listening on <paramref name="defaultEndPoint"/> when configuration gives no endpoint.</summary>
    /// <param name="name">The listener's name, the key of its configuration section <c>Kevents:Listeners:NAME</c>.</param>
    /// <param name="application">Runs once per connection.</param>
    /// <param name="defaultEndPoint">Where to listen unless configuration says otherwise, such as <c>127.0.0.1:7000</c>.</param>
    public KeventsBuilder ListenTcp(string name, Func<PipeConnection, Task> application, string defaultEndPoint)
    {
        ArgumentNullException.ThrowIfNull(application);
        return Add(new ListenerRegistration(name, defaultEndPoint, null, application));
    }

    private KeventsBuilder Add(ListenerRegistration registration)
    {
        Registry.Add(registration.Name, registration);
        return this;
    }
}
