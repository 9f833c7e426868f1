using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Kevents.Hosting;

/// <summary>
/// Reports whether every loop answers: it posts a probe to each loop and measures how long the probe waits before it
/// runs. A loop whose probe waits longer than <see cref="KeventsOptions.MaxLoopLag"/> (blocked by a handler, or
/// overloaded) makes the report unhealthy, naming the loop; so does a host that is not serving (starting, or
/// draining on its way out), which takes the instance out of a load balancer's rotation before it stops.
/// </summary>
internal sealed class KeventsHealthCheck(KeventsHost host, IOptions<KeventsOptions> options) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!host.IsServing)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "Kevents is not serving (starting, stopping or stopped).");
        }
        TimeSpan limit = options.Value.MaxLoopLag;
        IReadOnlyList<EventLoop> loops = host.Group.Loops;
        var probes = new Task<TimeSpan>[loops.Count];
        for (int i = 0; i < loops.Count; i++)
        {
            probes[i] = Probe(loops[i]);
        }
        var data = new Dictionary<string, object>(loops.Count);
        var late = new List<string>();
        for (int i = 0; i < loops.Count; i++)
        {
            TimeSpan lag;
            try
            {
                lag = await probes[i].WaitAsync(limit, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                lag = limit;
                late.Add($"{loops[i].Name} (no answer within {limit.TotalMilliseconds:F0} ms)");
                data[loops[i].Name] = $">{limit.TotalMilliseconds:F0} ms";
                continue;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
            {
                return new HealthCheckResult(context.Registration.FailureStatus, $"Kevents loop {loops[i].Name} is gone: {ex.Message}");
            }
            data[loops[i].Name] = $"{lag.TotalMilliseconds:F1} ms";
            if (lag > limit)
            {
                late.Add($"{loops[i].Name} ({lag.TotalMilliseconds:F0} ms)");
            }
        }
        return late.Count == 0
            ? HealthCheckResult.Healthy($"{loops.Count} loops answer within {limit.TotalMilliseconds:F0} ms.", data)
            : new HealthCheckResult(context.Registration.FailureStatus,
                $"Kevents loops late beyond {limit.TotalMilliseconds:F0} ms (Kevents:MaxLoopLag): {string.Join(", ", late)}.", data: data);
    }

    private static Task<TimeSpan> Probe(EventLoop loop)
    {
        var ran = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        long posted = Stopwatch.GetTimestamp();
        loop.Post(() => ran.TrySetResult(Stopwatch.GetElapsedTime(posted)));
        return ran.Task;
    }
}

/// <summary>Adds the Kevents loop health check to the host's health checks.</summary>
public static class KeventsHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check named <paramref name="name"/> that is unhealthy while Kevents is not serving or while a
    /// loop takes longer than <see cref="KeventsOptions.MaxLoopLag"/> to run posted work. Wire a readiness probe to
    /// it. Needs <see cref="KeventsServiceCollectionExtensions.AddKevents"/>.
    /// </summary>
    /// <param name="builder">From <c>services.AddHealthChecks()</c>.</param>
    /// <param name="name">The check's name in reports. Default <c>kevents</c>.</param>
    /// <param name="tags">Tags to filter checks by, such as <c>ready</c>.</param>
    public static IHealthChecksBuilder AddKevents(this IHealthChecksBuilder builder, string name = "kevents", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddCheck<KeventsHealthCheck>(name, failureStatus: HealthStatus.Unhealthy, tags: tags ?? []);
    }
}
