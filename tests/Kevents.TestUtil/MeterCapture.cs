using System.Diagnostics.Metrics;

namespace Kevents.Tests;

/// <summary>
/// Listens to every instrument of the <c>Kevents</c> meter and keeps the measurements tagged with one loop's name
/// (tests run in parallel, each with its own loops, so the tag tells them apart). Observable instruments report on
/// <see cref="Collect"/>; histograms as the loop records them.
/// </summary>
public sealed class MeterCapture : IDisposable
{
    private readonly string _loopName;
    private readonly MeterListener _listener = new();
    private readonly object _gate = new();
    private readonly Dictionary<string, Instrument> _instruments = [];
    private readonly List<(string Name, double Value, Dictionary<string, object?> Tags)> _collected = [];
    private readonly Dictionary<string, List<double>> _recorded = [];

    public MeterCapture(string loopName)
    {
        _loopName = loopName;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KeventsMeter.Name)
            {
                lock (_gate)
                {
                    _instruments[instrument.Name] = instrument;
                }
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
    }

    private bool _collecting;

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, object?>();
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }
        if (!copy.TryGetValue(KeventsMeter.LoopTagName, out object? loop) || (string?)loop != _loopName)
        {
            return;
        }
        lock (_gate)
        {
            if (instrument.IsObservable)
            {
                if (_collecting)
                {
                    _collected.Add((instrument.Name, value, copy));
                }
            }
            else
            {
                if (!_recorded.TryGetValue(instrument.Name, out List<double>? values))
                {
                    _recorded[instrument.Name] = values = [];
                }
                values.Add(value);
            }
        }
    }

    /// <summary>Asks every observable instrument for its measurements now, replacing those of the last call.</summary>
    public void Collect()
    {
        lock (_gate)
        {
            _collected.Clear();
            _collecting = true;
        }
        _listener.RecordObservableInstruments();
        lock (_gate)
        {
            _collecting = false;
        }
    }

    /// <summary>The instrument published under <paramref name="name"/>; fails the test when there is none.</summary>
    public Instrument Instrument(string name)
    {
        lock (_gate)
        {
            Assert.True(_instruments.TryGetValue(name, out Instrument? instrument), $"no instrument named {name} on the Kevents meter");
            return instrument!;
        }
    }

    /// <summary>The loop's measurements of <paramref name="name"/> in the last <see cref="Collect"/>, with their tags.</summary>
    public List<(double Value, Dictionary<string, object?> Tags)> Observed(string name)
    {
        lock (_gate)
        {
            return _collected.Where(m => m.Name == name).Select(m => (m.Value, m.Tags)).ToList();
        }
    }

    /// <summary>The loop's one measurement of <paramref name="name"/> (with <paramref name="tag"/> = <paramref name="tagValue"/> when given).</summary>
    public double Value(string name, string? tag = null, string? tagValue = null)
    {
        var matches = Observed(name).Where(m => tag is null || (string?)m.Tags.GetValueOrDefault(tag) == tagValue).ToList();
        Assert.True(matches.Count == 1, $"{name}{(tag is null ? "" : $" {tag}={tagValue}")}: expected one measurement for loop {_loopName}, got {matches.Count}");
        return matches[0].Value;
    }

    /// <summary>Values a histogram recorded for the loop so far.</summary>
    public List<double> Recorded(string name)
    {
        lock (_gate)
        {
            return _recorded.TryGetValue(name, out List<double>? values) ? [.. values] : [];
        }
    }

    public void Dispose() => _listener.Dispose();
}
