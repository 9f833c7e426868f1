using System.Net.Sockets;

namespace Kevents.Tests;

/// <summary>Reads on a test's client socket, each bounded so a server that never answers fails the test.</summary>
public static class ClientSockets
{
    /// <summary>
    /// Reads until the peer closes the connection, each read bounded by <paramref name="limit"/>; returns what arrived
    /// and whether it ended in a reset rather than a FIN.
    /// </summary>
    public static async Task<(byte[] Bytes, bool Reset)> ReceiveUntilClosedAsync(Socket socket, TimeSpan limit)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(limit);
                if (n == 0)
                {
                    return (all.ToArray(), false);
                }
                all.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (all.ToArray(), true);
        }
    }
}
