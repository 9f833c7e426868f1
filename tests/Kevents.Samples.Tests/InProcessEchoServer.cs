using System.Net;
using Kevents.Net;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// An echo server on its own loop thread, bound to a free loopback port, for LoadGen to load. With
/// <c>corruptAt</c> set it flips one byte: the byte at that offset of the first connection's stream.
/// </summary>
internal sealed class InProcessEchoServer : IDisposable
{
    private readonly EventLoop _loop = new(new EventLoopOptions { Name = "test-echo" });
    private readonly SocketServer _server;
    private readonly Task _running;
    private readonly Echo _echo;

    public InProcessEchoServer(long corruptAt = -1)
    {
        _echo = new Echo(corruptAt);
        _server = _loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), _echo);
        EndPoint = (IPEndPoint)_server.LocalEndPoint;
        _running = _loop.RunAsync();
    }

    public IPEndPoint EndPoint { get; }

    public int ConnectionCount => _server.ConnectionCount;

    /// <summary>Connections accepted so far (read from the test thread: may trail by a moment).</summary>
    public long TotalAccepted => _server.TotalAccepted;

    /// <summary>Bytes echoed so far, over all connections (read from the test thread: may trail by a moment).</summary>
    public long BytesEchoed => Interlocked.Read(ref _echo.BytesEchoed);

    public void Dispose()
    {
        // Drain (LoadGen has closed its side already), then release the listener on the loop thread before the
        // loop stops, so the fd gate sees every descriptor closed.
        _server.ShutdownAsync(TimeSpan.FromSeconds(2)).Wait(TimeSpan.FromSeconds(5));
        _loop.DisposeWithServer(_running, _server);
    }

    private sealed class Echo(long corruptAt) : IStreamHandler
    {
        private long _corruptAt = corruptAt;
        public long BytesEchoed;

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
            Interlocked.Add(ref BytesEchoed, data.Length);
            if (_corruptAt >= 0 && _corruptAt < data.Length)
            {
                byte[] copy = data.ToArray();
                copy[_corruptAt] ^= 0x40;
                _corruptAt = -1;
                connection.Write(copy);
                return;
            }
            if (_corruptAt >= 0)
            {
                _corruptAt -= data.Length;
            }
            connection.Write(data);
        }
    }
}
