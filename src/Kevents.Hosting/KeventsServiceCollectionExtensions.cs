using Kevents.Hosting.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Kevents.Hosting;

/// <summary>Adds Kevents to the .NET generic host.</summary>
public static class KeventsServiceCollectionExtensions
{
    /// <summary>The configuration section the options are bound from: <c>Kevents</c>.</summary>
    public const string SectionName = "Kevents";

    /// <summary>
    /// Adds the Kevents hosted service (<see cref="KeventsHost"/>): its <see cref="KeventsOptions"/> are bound from the
    /// configuration section <c>Kevents</c>, then passed to <paramref name="configure"/>, and validated when the host
    /// starts; its loops log through the host's <see cref="ILoggerFactory"/>. Add listeners on the returned builder.
    /// </summary>
    /// <param name="services">The host's services (<c>builder.Services</c>).</param>
    /// <param name="configure">Adjusts the options after configuration is bound. Optional.</param>
    /// <exception cref="InvalidOperationException">Kevents was added to these services before.</exception>
    public static KeventsBuilder AddKevents(this IServiceCollection services, Action<KeventsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(ListenerRegistry)))
        {
            throw new InvalidOperationException("AddKevents was called twice on the same services; call it once and add every listener to the builder it returns.");
        }
        var registry = new ListenerRegistry();
        services.AddSingleton(registry);
        OptionsBuilder<KeventsOptions> options = services.AddOptions<KeventsOptions>().BindConfiguration(SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeventsOptions>, KeventsOptionsValidator>());
        services.AddSingleton(sp => new KeventsHost(sp.GetRequiredService<IOptions<KeventsOptions>>(), registry, sp.GetService<ILoggerFactory>()));
        services.AddHostedService(sp => sp.GetRequiredService<KeventsHost>());
        return new KeventsBuilder(services, registry);
    }
}
