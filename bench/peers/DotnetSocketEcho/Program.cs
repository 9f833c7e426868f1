// Peer for the echo comparison: the textbook .NET Socket echo server, one async loop per
// connection using Memory<byte>-based ReceiveAsync/SendAsync (ValueTask, no per-call allocations).
// The runtime's socket engine does the epoll work; set DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT
// to choose how many epoll threads it uses.
using System.Net;
using System.Net.Sockets;

if (args.Length != 1 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: DotnetSocketEcho PORT");
    return 2;
}

using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(4096);

while (true)
{
    Socket client = await listener.AcceptAsync();
    client.NoDelay = true;
    _ = Serve(client);
}

static async Task Serve(Socket socket)
{
    var buffer = new byte[4096];
    try
    {
        while (true)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None);
            if (n == 0)
                break;
            int sent = 0;
            while (sent < n)
                sent += await socket.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None);
        }
    }
    catch (SocketException)
    {
        // Client went away mid-exchange; nothing to report in a benchmark peer.
    }
    finally
    {
        socket.Dispose();
    }
}
