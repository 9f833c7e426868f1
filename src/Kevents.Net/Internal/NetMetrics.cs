using System.Diagnostics.Metrics;

namespace Kevents.Net.Internal;

/// <summary>
/// Kevents.Net's counters for one loop, kept as the loop's feature: the loop thread bumps plain fields, and the
/// observable instruments below (created once per process, on <see cref="KeventsMeter.Meter"/>) read them when a
/// listener collects, one measurement per live loop, tagged <c>kevents.loop</c>. A disposed loop leaves the meter's
/// registry, so its counters stop being reported and go with the loop.
/// </summary>
internal sealed class NetMetrics
{
    // Where a connection made on an already disposed loop counts (nobody reads it): such a loop has no features left.
    private static readonly NetMetrics s_detached = new();

    public long Open;            // loop thread (a connection closed after its loop's disposal writes here too; unreported)
    public long Accepted;        // loop thread
    public long Rejected;        // loop thread
    public long BytesReceived;   // loop thread
    public long BytesSent;       // loop thread

    static NetMetrics()
    {
        Meter meter = KeventsMeter.Meter;
        meter.CreateObservableUpDownCounter("kevents.net.connections.open", () => KeventsMeter.Observe<NetMetrics, long>(static m => m.Open),
            unit: "{connection}", description: "Connections open on the loop: accepted by its servers and connected by it.");
        meter.CreateObservableCounter("kevents.net.connections.accepted", () => KeventsMeter.Observe<NetMetrics, long>(static m => m.Accepted),
            unit: "{connection}", description: "Connections accepted and served by the loop's servers.");
        meter.CreateObservableCounter("kevents.net.connections.rejected", () => KeventsMeter.Observe<NetMetrics, long>(static m => m.Rejected),
            unit: "{connection}", description: "Connections refused by a server's connection limit or shed while descriptors ran short.");
        meter.CreateObservableCounter("kevents.net.bytes.received", () => KeventsMeter.Observe<NetMetrics, long>(static m => m.BytesReceived),
            unit: "By", description: "Bytes read from the loop's stream connections.");
        meter.CreateObservableCounter("kevents.net.bytes.sent", () => KeventsMeter.Observe<NetMetrics, long>(static m => m.BytesSent),
            unit: "By", description: "Bytes the kernel accepted for sending on the loop's stream connections.");
    }

    /// <summary>The loop's Net counters, created on first use. Any thread.</summary>
    public static NetMetrics For(EventLoop loop)
    {
        if (loop.TryGetFeature(out NetMetrics? metrics))
        {
            return metrics;
        }
        try
        {
            return loop.GetOrAddFeature(static _ => new NetMetrics());
        }
        catch (ObjectDisposedException)
        {
            return s_detached;
        }
    }
}
