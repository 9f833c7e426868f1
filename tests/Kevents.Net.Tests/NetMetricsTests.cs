using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Kevents.Net;

namespace Kevents.Tests;

public class NetMetricsTests : NetTest
{
    [Fact]
    public async Task ServerPublishesLiveAcceptedAndRejectedConnections()
    {
        SocketServer server = await OnLoop(() => Loop.ListenTcp(TestUtil.AnyLoopback(), new StreamEcho(), new ServerOptions { MaxConnections = 2 }));
        string endPoint = server.LocalEndPoint.ToString()!;
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                clients.Add(await ConnectClientAsync(server.LocalEndPoint));
            }
            await WaitUntilAsync(() => OnLoop(() => server.TotalRejected == 1 && server.ConnectionCount == 2), "two accepted, one refused");

            var values = new Dictionary<string, long>();
            using var listener = new MeterListener
            {
                InstrumentPublished = (instrument, l) =>
                {
                    if (instrument.Meter.Name == "Kevents" && instrument.Name.StartsWith("kevents.net.", StringComparison.Ordinal))
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                },
            };
            void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "kevents.endpoint" && (string?)tag.Value == endPoint)
                    {
                        values[instrument.Name] = value;
                    }
                }
            }
            listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
            listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
            listener.Start();
            listener.RecordObservableInstruments();

            Assert.Equal(2, values["kevents.net.connections"]);
            Assert.Equal(2, values["kevents.net.accepted"]);
            Assert.Equal(1, values["kevents.net.rejected"]);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
        await OnLoop(server.Dispose);
    }
}
