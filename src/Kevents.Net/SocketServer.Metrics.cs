using System.Diagnostics.Metrics;

namespace Kevents.Net;

// Metrics of a server, under the meter "Kevents" like the loop's. Observable instruments read the counters the loop
// thread keeps anyway, so serving costs nothing extra.
public sealed partial class SocketServer
{
    private Meter? _meter;

    private void CreateMetrics()
    {
        _meter = new Meter("Kevents");
        var endPoint = new KeyValuePair<string, object?>("kevents.endpoint", Internal.NetErrors.Describe(LocalEndPoint));
        var loop = new KeyValuePair<string, object?>("kevents.loop", _loop.Name);
        _meter.CreateObservableUpDownCounter("kevents.net.connections", () => new Measurement<int>(Volatile.Read(ref _connectionCount), endPoint, loop),
            unit: "{connection}", description: "Live connections of a server.");
        _meter.CreateObservableCounter("kevents.net.accepted", () => new Measurement<long>(TotalAccepted, endPoint, loop),
            unit: "{connection}", description: "Connections accepted and served.");
        _meter.CreateObservableCounter("kevents.net.rejected", () => new Measurement<long>(TotalRejected, endPoint, loop),
            unit: "{connection}", description: "Connections refused by the connection limit or shed while descriptors were exhausted.");
    }

    private void DisposeMetrics()
    {
        _meter?.Dispose();
        _meter = null;
    }
}
