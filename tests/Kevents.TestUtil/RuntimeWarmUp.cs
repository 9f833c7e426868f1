using System.Net;
using System.Net.Sockets;

namespace Kevents.Tests;

/// <summary>
/// Opens, once per process, the descriptors the .NET runtime creates lazily and keeps for its lifetime, so that an
/// fd baseline taken afterwards sees only what tests and Kevents open.
/// </summary>
public static class RuntimeWarmUp
{
    private static readonly Lazy<bool> s_sockets = new(static () =>
    {
        // .NET's own socket engine opens an epoll set and a pipe on its first asynchronous operation.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.ConnectAsync(listener.LocalEndPoint!).GetAwaiter().GetResult();
        using Socket accepted = listener.AcceptAsync().GetAwaiter().GetResult();
        _ = Random.Shared.Next();
        return true;
    });

    private static readonly Lazy<bool> s_children = new(static () =>
    {
        // The runtime opens a pipe of its own (for SIGCHLD) the first time it starts a child, and keeps it.
        using var child = System.Diagnostics.Process.Start("true");
        child.WaitForExit();
        return true;
    });

    /// <summary>Starts .NET's socket engine (an epoll fd and a pipe) before any baseline is taken.</summary>
    public static void Sockets() => _ = s_sockets.Value;

    /// <summary>Starts one child process, so the runtime's SIGCHLD pipe exists before any baseline is taken.</summary>
    public static void ChildProcesses() => _ = s_children.Value;
}
