using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Kevents.Hybrid.Internal;

// Adaptive routing. A "kind" is a threadlet body's method. Each kind moves through three routes:
//   Try   - start inline on the loop (the default).
//   Cold  - it blocked ColdAfterBlocks times in a row inline: start on a cache-miss thread. After ColdRetryInterval
//           one start is tried inline again ("probe"); if it stays inline the kind is Try again, if not the
//           interval doubles.
//   Never - three probes in a row failed: start on a thread, probing only every NeverRetryInterval.
// "Blocked" means the inline part hit EAGAIN and left the loop, or held the loop beyond the watchdog threshold.
// Loop thread only: no locks.
internal sealed class KindRouter
{
    private const int ProbesBeforeNever = 3;

    private readonly Dictionary<MethodInfo, Kind> _kinds = new();
    private readonly ThreadletRuntime _runtime;
    private readonly int _coldAfter;
    private readonly TimeSpan _coldRetry;
    private readonly TimeSpan _neverRetry;

    public KindRouter(ThreadletRuntime runtime, ThreadletOptions options)
    {
        _runtime = runtime;
        _coldAfter = options.ColdAfterBlocks;
        _coldRetry = options.ColdRetryInterval;
        _neverRetry = options.NeverRetryInterval;
    }

    public bool Enabled => _coldAfter > 0;

    public enum Route
    {
        Try,
        Cold,
        Never,
    }

    /// <summary>What the router knows about one kind.</summary>
    internal sealed class Kind(MethodInfo method)
    {
        public readonly MethodInfo Method = method;
        public Route Route;
        public int ConsecutiveBlocks;
        public int FailedProbes;
        public long RetryAt;
        public bool Probing;

        public string Name => $"{Method.DeclaringType?.Name}.{Method.Name}";
    }

    public Kind? Lookup(Delegate body)
    {
        if (!Enabled)
        {
            return null;
        }
        MethodInfo method = body.Method;
        if (!_kinds.TryGetValue(method, out Kind? kind))
        {
            kind = new Kind(method);
            _kinds.Add(method, kind);
        }
        return kind;
    }

    /// <summary>True when a threadlet of this kind should start on a cache-miss thread rather than inline.</summary>
    public bool StartOnThread(Kind? kind)
    {
        if (kind is null || kind.Route == Route.Try)
        {
            return false;
        }
        if (kind.Probing || _runtime.Now() < kind.RetryAt)
        {
            return true;
        }
        // Time for one inline probe; its outcome decides the route (see Record).
        kind.Probing = true;
        return false;
    }

    /// <summary>Records how an inline start went.</summary>
    public void Record(Kind? kind, bool blocked)
    {
        if (kind is null)
        {
            return;
        }
        if (kind.Route == Route.Try)
        {
            if (!blocked)
            {
                kind.ConsecutiveBlocks = 0;
                return;
            }
            if (++kind.ConsecutiveBlocks >= _coldAfter)
            {
                GoCold(kind, Route.Cold, _coldRetry);
            }
            return;
        }
        if (!kind.Probing)
        {
            return;
        }
        kind.Probing = false;
        if (!blocked)
        {
            kind.Route = Route.Try;
            kind.ConsecutiveBlocks = 0;
            kind.FailedProbes = 0;
            Log.ThreadletKindWarm(_runtime.Logger, kind.Name);
            return;
        }
        kind.FailedProbes++;
        if (kind.FailedProbes >= ProbesBeforeNever)
        {
            GoCold(kind, Route.Never, _neverRetry);
        }
        else
        {
            GoCold(kind, Route.Cold, _coldRetry * (1 << kind.FailedProbes));
        }
    }

    private void GoCold(Kind kind, Route route, TimeSpan retryAfter)
    {
        kind.Route = route;
        kind.RetryAt = _runtime.Now() + (long)(retryAfter.TotalSeconds * _runtime.TimestampFrequency);
        Log.ThreadletKindCold(_runtime.Logger, kind.Name, kind.ConsecutiveBlocks + kind.FailedProbes, route.ToString().ToLowerInvariant(), retryAfter.TotalMilliseconds);
    }

    /// <summary>The route of the kind behind <paramref name="body"/>, for tests and diagnostics.</summary>
    public Route RouteOf(Delegate body) =>
        Enabled && _kinds.TryGetValue(body.Method, out Kind? kind) ? kind.Route : Route.Try;
}
