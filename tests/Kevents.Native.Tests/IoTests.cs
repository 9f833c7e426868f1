using System.Text;
using Kevents.Tests;

namespace Kevents.Native.Tests;

public sealed unsafe class IoTests : GatedTest
{
    [Fact]
    public void ReadOnEmptyNonBlockingSocketReturnsMinusEagain()
    {
        var (a, b) = TestUtil.SocketPair();
        using (a)
        using (b)
        {
            Span<byte> buffer = stackalloc byte[16];
            Assert.Equal(-Errno.EAGAIN, Io.Read(a.Fd, buffer));
            Assert.Equal(-Errno.EAGAIN, NativeSocket.Receive(a.Fd, buffer));
        }
    }

    [Fact]
    public void ReadReturnsZeroAtEof()
    {
        Span<byte> buffer = stackalloc byte[16];

        var (a, b) = TestUtil.SocketPair();
        using (a)
        {
            TestUtil.Ok(Io.Write(b.Fd, "last"u8), "write");
            b.Dispose();
            // Data written before the close is still delivered; only then comes end of stream.
            Assert.Equal(4, Io.Read(a.Fd, buffer));
            Assert.Equal(0, Io.Read(a.Fd, buffer));
            Assert.Equal(0, NativeSocket.Receive(a.Fd, buffer));
        }

        var (r, w) = TestUtil.Pipe();
        using (r)
        {
            w.Dispose();
            Assert.Equal(0, Io.Read(r.Fd, buffer));
        }
    }

    [Fact]
    public void ReadvWritevMoveScatteredSegments()
    {
        var (r, w) = TestUtil.Pipe();
        using (r)
        using (w)
        {
            byte[] first = "Hello, "u8.ToArray();
            byte[] second = "scattered "u8.ToArray();
            byte[] third = "world"u8.ToArray();
            byte[] a = new byte[5], b = new byte[12], c = new byte[32];

            // Safety: every array is pinned by fixed until the call that reads the segments returns.
            fixed (byte* p1 = first, p2 = second, p3 = third)
            {
                IoSegment* gather = stackalloc IoSegment[3];
                gather[0] = new IoSegment(p1, first.Length);
                gather[1] = new IoSegment(p2, second.Length);
                gather[2] = new IoSegment(p3, third.Length);
                Assert.Equal(22, Io.Writev(w.Fd, gather, 3));
            }
            Assert.Equal(22, Io.BytesAvailable(r.Fd));

            long read;
            // Safety: as above.
            fixed (byte* pa = a, pb = b, pc = c)
            {
                IoSegment* scatter = stackalloc IoSegment[3];
                scatter[0] = new IoSegment(pa, a.Length);
                scatter[1] = new IoSegment(pb, b.Length);
                scatter[2] = new IoSegment(pc, c.Length);
                read = Io.Readv(r.Fd, scatter, 3);
            }

            // The kernel fills each segment in order before moving to the next.
            Assert.Equal(22, read);
            Assert.Equal("Hello", Encoding.ASCII.GetString(a));
            Assert.Equal(", scattered ", Encoding.ASCII.GetString(b));
            Assert.Equal("world", Encoding.ASCII.GetString(c, 0, 5));
            Assert.Equal(-Errno.EAGAIN, Io.Read(r.Fd, a));
        }
    }

    [Fact]
    public void DisposingFileDescriptorClosesIt()
    {
        var (r, w) = TestUtil.Pipe();
        Assert.Equal(FdBaseline + 2, TestUtil.OpenFdCount());

        r.Dispose();
        w.Dispose();

        Assert.Equal(FdBaseline, TestUtil.OpenFdCount());
        Assert.True(r.IsClosed);
        Assert.Equal(-1, r.Fd);
        // A second dispose must not close again: the kernel hands out the lowest free numbers, so a new pipe
        // most likely reuses them, and a double close would take it away from its new owner.
        var (r2, w2) = TestUtil.Pipe();
        using (r2)
        using (w2)
        {
            r.Dispose();
            w.Dispose();
            Assert.True(Io.IsCloseOnExec(r2.Fd) && Io.IsCloseOnExec(w2.Fd), "the new pipe was closed by a second dispose");
            Assert.Equal(FdBaseline + 2, TestUtil.OpenFdCount());
        }
    }
}
