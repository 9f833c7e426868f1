using System.Diagnostics.Metrics;
using Kevents;

namespace Kevents.Samples;

/// <summary>
/// <c>--metrics</c> (EchoServer) or <c>--Metrics=true</c> (HostedEchoServer): listens to every instrument on the <c>Kevents</c> meter in-process and collects the observable
/// ones once a second, as an OpenTelemetry exporter would, so a benchmark can measure what observing the loop costs.
/// At exit it prints one line with a few of the values it saw.
/// </summary>
public sealed class MetricsListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Timer _collect;
    private readonly object _gate = new();
    private readonly Dictionary<string, double> _latest = [];
    private long _lagSamples;
    private double _lagSum;
    private long _collections;

    public MetricsListener()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KeventsMeter.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v));
        _listener.Start();
        _collect = new Timer(_ => Collect(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    private void Record(Instrument instrument, double value)
    {
        if (instrument is Histogram<double>)
        {
            // The loop thread records these: keep it to two adds, no lock (one loop here).
            _lagSamples++;
            _lagSum += value;
            return;
        }
        lock (_gate)
        {
            // Counters by filter or work class come as several measurements: sum them per instrument.
            _latest[instrument.Name] = _latest.GetValueOrDefault(instrument.Name) + value;
        }
    }

    private void Collect()
    {
        lock (_gate)
        {
            _latest.Clear();
        }
        _listener.RecordObservableInstruments();
        _collections++;
    }

    /// <summary>One line: what the listener saw, so a run shows the instruments moved.</summary>
    public string Summary()
    {
        lock (_gate)
        {
            double mean = _lagSamples == 0 ? 0 : _lagSum / _lagSamples * 1e6;
            return $"metrics: {_collections} collections, {_lagSamples} lag samples (mean {mean:F1} us), " +
                $"kevents {_latest.GetValueOrDefault("kevents.loop.kevents"):F0}, busy ratio {_latest.GetValueOrDefault("kevents.loop.busy_ratio"):F2}, " +
                $"bytes in {_latest.GetValueOrDefault("kevents.net.bytes.received"):F0} out {_latest.GetValueOrDefault("kevents.net.bytes.sent"):F0}";
        }
    }

    public void Dispose()
    {
        _collect.Dispose();
        _listener.Dispose();
    }
}
