using System.Diagnostics.Metrics;

namespace Kevents.Tests;

public class MetricsTests : LoopTest
{
    [Fact]
    public void LoopPublishesDispatchTimerAndPostCounters()
    {
        EventLoop loop = NewLoop(new EventLoopOptions { Name = "metrics-test" });
        for (ulong i = 0; i < 3; i++)
        {
            loop.Register(Kevent.Timer(i, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) => { });
        }
        loop.Post(() => { });
        loop.Register(Kevent.Timer(99, TimeSpan.FromMilliseconds(30), periodic: false), (in Kevent _) => loop.Stop());
        RunWithLimit(loop);

        var values = new Dictionary<string, double>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Kevents")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string? loopName = null, filter = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "kevents.loop")
                {
                    loopName = tag.Value as string;
                }
                else if (tag.Key == "kevents.filter")
                {
                    filter = tag.Value as string;
                }
            }
            if (loopName == "metrics-test")
            {
                values[filter is null ? instrument.Name : $"{instrument.Name}/{filter}"] = value;
            }
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(4, values["kevents.dispatched/timer"]);
        Assert.True(values["kevents.timers.armed"] >= 4);
        Assert.Equal(4, values["kevents.timers.fired"]);
        Assert.True(values["kevents.posted"] >= 1);
        Assert.True(values["kevents.loop.iterations"] >= 1);
        Assert.True(values["kevents.loop.busy_time"] > 0);
        Assert.Equal(0, values["kevents.ring.overflows"]);
        Assert.Equal(0, values["kevents.handler.errors"]);
    }
}
