namespace Kevents.Net;

/// <summary>
/// The low-level connection API, for the last bit of speed: the loop reads into a buffer it owns and hands the
/// bytes to <see cref="OnData"/>; the handler writes straight to the socket with <see cref="StreamConnection.Write"/>.
/// No pipes, no copies beyond the kernel's, no allocation per message. Every method runs on the loop thread.
/// </summary>
public interface IStreamHandler
{
    /// <summary>A connection was accepted (or an outgoing one connected).</summary>
    void OnConnected(StreamConnection connection)
    {
    }

    /// <summary>
    /// Bytes arrived. <paramref name="data"/> points into a buffer the loop reuses: copy what must outlive the call.
    /// </summary>
    void OnData(StreamConnection connection, ReadOnlySpan<byte> data);

    /// <summary>The peer closed its write side (FIN). The default closes once queued output is sent.</summary>
    void OnEndOfStream(StreamConnection connection) => connection.Close();

    /// <summary>Queued output fell to the resume level after writes had been paused (reading resumed too).</summary>
    void OnDrained(StreamConnection connection)
    {
    }

    /// <summary>
    /// The connection is closed (exactly once). <paramref name="error"/> is null after an orderly close, else why it
    /// ended: <see cref="ConnectionResetException"/> (the peer reset it, also after sending data: never reported as an
    /// orderly end) or <see cref="ConnectionAbortedException"/>. When the application itself closes or aborts the
    /// connection (<see cref="Connection.Close"/>, <see cref="Connection.Abort"/>, a failed
    /// <see cref="StreamConnection.Write"/>), this runs in a later step on the loop, never inside that call.
    /// </summary>
    void OnClosed(StreamConnection connection, Exception? error)
    {
    }
}
