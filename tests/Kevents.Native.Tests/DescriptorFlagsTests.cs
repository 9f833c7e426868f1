using System.Net.Sockets;
using Kevents.Tests;

namespace Kevents.Native.Tests;

public sealed class DescriptorFlagsTests : GatedTest
{
    [Fact]
    public void EveryDescriptorIsCloseOnExecAndNonBlocking()
    {
        TestUtil.Ok(Epoll.Create(out FileDescriptor? epoll), "epoll_create1");
        TestUtil.Ok(EventFd.Create(out FileDescriptor? eventFd), "eventfd");
        var (pipeRead, pipeWrite) = TestUtil.Pipe();
        TestUtil.Ok(NativeSocket.Create(AddressFamily.InterNetwork, SocketType.Stream, out FileDescriptor? socket), "socket");
        var (pairA, pairB) = TestUtil.SocketPair();
        using FileDescriptor listener = TestUtil.Listen(TestUtil.AnyLoopback());
        var (client, accepted) = TestUtil.ConnectedPair(listener);

        var all = new (string What, FileDescriptor Fd)[]
        {
            ("epoll", epoll!), ("eventfd", eventFd!), ("pipe read end", pipeRead), ("pipe write end", pipeWrite),
            ("socket", socket!), ("socketpair first", pairA), ("socketpair second", pairB), ("listener", listener),
            ("connected client", client), ("accepted socket", accepted),
        };
        try
        {
            foreach (var (what, fd) in all)
            {
                Assert.True(Io.IsCloseOnExec(fd.Fd), $"{what} is not CLOEXEC");
                // epoll descriptors ignore O_NONBLOCK (epoll_wait takes its own timeout) and epoll_create1 cannot set it.
                if (what != "epoll")
                {
                    Assert.True(Io.IsNonBlocking(fd.Fd), $"{what} is not NONBLOCK");
                }
            }
        }
        finally
        {
            foreach (var (_, fd) in all)
            {
                fd.Dispose();
            }
        }
    }
}
