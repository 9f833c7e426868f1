using Kevents.Net.Internal;

namespace Kevents.Net;

// A server's share of its loop's Net metrics (NetMetrics): the loop's instruments on the meter "Kevents" add up every
// server on the loop, so a server only bumps the loop's plain counters as it counts its own.
public sealed partial class SocketServer
{
    private long _totalAccepted;
    private long _totalRejected;
    private NetMetrics? _netMetrics;

    private void CreateMetrics() => _netMetrics = NetMetrics.For(_loop);

    private void DisposeMetrics()
    {
        // Nothing to release: the loop's instruments stop reporting it when the loop is disposed.
    }

    private void CountAccepted(long total)
    {
        if (_netMetrics is { } metrics)
        {
            metrics.Accepted += total - _totalAccepted;
        }
        _totalAccepted = total;
    }

    private void CountRejected(long total)
    {
        if (_netMetrics is { } metrics)
        {
            metrics.Rejected += total - _totalRejected;
        }
        _totalRejected = total;
    }
}
