using Kevents.Net.Internal;

namespace Kevents.Net;

// A connection's share of its loop's Net metrics: open connections and bytes in and out, bumped in the plain fields
// of the loop's NetMetrics as the connection counts its own bytes (one add per read or send).
public abstract partial class Connection
{
    private readonly NetMetrics _netMetrics;
    private long _bytesRead;
    private long _bytesWritten;

    private void CountRead(long total)
    {
        _netMetrics.BytesReceived += total - _bytesRead;
        _bytesRead = total;
    }

    private void CountWritten(long total)
    {
        _netMetrics.BytesSent += total - _bytesWritten;
        _bytesWritten = total;
    }
}
