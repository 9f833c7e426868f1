using System.Diagnostics.Metrics;
using System.Globalization;
using Kevents;

namespace RespServer;

/// <summary>
/// Reads the "Kevents" meter's loop and connection instruments for one loop, for INFO's kevents section: a
/// listener lives for the length of one INFO call, so a server nobody asks pays nothing for it.
/// </summary>
internal static class LoopMetricsReader
{
    /// <summary>"name:value" pairs, names as INFO fields (kevents_loop_iterations, kevents_loop_kevents_read, ...).</summary>
    public static SortedDictionary<string, string> Read(EventLoop loop)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == KeventsMeter.Name && instrument.Name.StartsWith("kevents.", StringComparison.Ordinal)
                    && !instrument.Name.Equals("kevents.loop.lag", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(values, loop, instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(values, loop, instrument, value, tags));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(values, loop, instrument, value, tags));
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    private static void Record<T>(SortedDictionary<string, string> values, EventLoop loop, Instrument instrument, T value,
        ReadOnlySpan<KeyValuePair<string, object?>> tags) where T : IFormattable
    {
        string name = instrument.Name.Replace('.', '_');
        bool ours = false;
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            if (tag.Key == KeventsMeter.LoopTagName)
            {
                ours = Equals(tag.Value, loop.Name);
            }
            else
            {
                name += "_" + tag.Value;
            }
        }
        if (ours)
        {
            values[name] = value.ToString(value is double ? "0.####" : null, CultureInfo.InvariantCulture);
        }
    }
}
