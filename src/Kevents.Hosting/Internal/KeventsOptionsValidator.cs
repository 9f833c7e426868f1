using System.Net;
using Microsoft.Extensions.Options;

namespace Kevents.Hosting.Internal;

/// <summary>
/// Checks the bound options when the host starts. Every failure names its configuration key, says what was wrong and
/// what would be right, so a typo in appsettings.json or an environment variable stops the start with an answer.
/// </summary>
internal sealed class KeventsOptionsValidator(ListenerRegistry registry) : IValidateOptions<KeventsOptions>
{
    private const string Section = KeventsServiceCollectionExtensions.SectionName;

    public ValidateOptionsResult Validate(string? name, KeventsOptions options)
    {
        var failures = new List<string>();
        if (options.Loops is < 1 or > 4096)
        {
            failures.Add($"{Section}:Loops is {options.Loops}; it must be between 1 and 4096 (default: the number of CPUs, {Environment.ProcessorCount}).");
        }
        if (options.MaxLoopLag < TimeSpan.FromMilliseconds(1) || options.MaxLoopLag > TimeSpan.FromHours(1))
        {
            failures.Add($"{Section}:MaxLoopLag is {options.MaxLoopLag}; it must be between 00:00:00.001 and 01:00:00 (default 00:00:01).");
        }
        if (!Enum.IsDefined(options.Distribution))
        {
            failures.Add($"{Section}:Distribution is {options.Distribution}; use ReusePort, ReusePortCpu or Acceptor.");
        }
        foreach ((string listener, KeventsListenerOptions settings) in options.Listeners)
        {
            if (!registry.Contains(listener))
            {
                string known = registry.All.Count == 0 ? "none is registered" : "registered: " + string.Join(", ", registry.All.Select(r => r.Name));
                failures.Add($"{Section}:Listeners:{listener} is configured but no handler serves it ({known}): call AddKevents().ListenTcp(\"{listener}\", ...) or remove the section.");
            }
            if (settings?.Distribution is { } d && !Enum.IsDefined(d))
            {
                failures.Add($"{Section}:Listeners:{listener}:Distribution is {d}; use ReusePort, ReusePortCpu or Acceptor.");
            }
        }
        foreach (ListenerRegistration registration in registry.All)
        {
            KeventsListenerOptions? settings = options.Listeners.GetValueOrDefault(registration.Name);
            string? endPoint = settings?.EndPoint ?? registration.DefaultEndPoint;
            string key = $"{Section}:Listeners:{registration.Name}:EndPoint";
            if (string.IsNullOrWhiteSpace(endPoint))
            {
                failures.Add($"{key} is missing: set it (for example {key}=127.0.0.1:7000) or give ListenTcp(\"{registration.Name}\", ..., defaultEndPoint) a default.");
            }
            else if (!IPEndPoint.TryParse(endPoint, out IPEndPoint? parsed) || !endPoint.Contains(':', StringComparison.Ordinal) || parsed.Port is < 0 or > 65535)
            {
                failures.Add($"{key} is '{endPoint}', which is not an IP address and port: write it as 127.0.0.1:7000, 0.0.0.0:7000 or [::1]:7000 (port 0 picks a free port).");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
