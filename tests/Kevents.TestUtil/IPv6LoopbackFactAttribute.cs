namespace Kevents.Tests;

/// <summary>
/// A fact that is reported as skipped, with the reason, on a machine where [::1] cannot be bound: it never
/// passes silently there.
/// </summary>
public sealed class IPv6LoopbackFactAttribute : FactAttribute
{
    private static readonly Lazy<bool> s_available = new(TestUtil.HasIPv6Loopback);

    /// <summary>Sets <see cref="FactAttribute.Skip"/> when IPv6 loopback is missing.</summary>
    public IPv6LoopbackFactAttribute()
    {
        if (!s_available.Value)
        {
            Skip = "This machine has no IPv6 loopback: binding a TCP socket to [::1]:0 failed.";
        }
    }
}
