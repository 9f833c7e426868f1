using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19): <see cref="Count"/> buffers of
/// <see cref="BufferSize"/> bytes in native memory that the kernel picks from for receives marked with
/// IOSQE_BUFFER_SELECT and this ring's group; a completion names the buffer it filled
/// (<see cref="BufferIdOf"/>), and <see cref="Return"/> gives it back once its bytes were used.
/// </summary>
/// <remarks>
/// One owner thread, like the ring it is registered with. The memory lives until <see cref="Dispose"/>, which must come
/// after the ring was disposed (the kernel may write into buffers until then).
/// </remarks>
internal sealed unsafe class IoUringBufferRing : IDisposable
{
    private const int EntrySize = 16;
    private readonly byte* _ring;
    private readonly byte* _buffers;
    private readonly ushort _mask;
    private ushort _tail;
    private bool _disposed;

    private IoUringBufferRing(byte* ring, byte* buffers, int count, int bufferSize, ushort group)
    {
        _ring = ring;
        _buffers = buffers;
        Count = count;
        BufferSize = bufferSize;
        Group = group;
        _mask = (ushort)(count - 1);
    }

    /// <summary>Buffers in the ring (a power of two).</summary>
    public int Count { get; }

    /// <summary>Bytes per buffer.</summary>
    public int BufferSize { get; }

    /// <summary>The buffer group id receives name in their entries.</summary>
    public ushort Group { get; }

    /// <summary>
    /// Registers a ring of <paramref name="count"/> (a power of two up to 32768) buffers of <paramref name="bufferSize"/>
    /// bytes with <paramref name="ringFd"/> under <paramref name="group"/>, all of them given to the kernel. Returns 0,
    /// or -errno: -EINVAL on kernels before 5.19 (no provided-buffer rings), -ENOMEM.
    /// </summary>
    public static int Create(int ringFd, int count, int bufferSize, ushort group, out IoUringBufferRing? ring)
    {
        ring = null;
        if (count <= 0 || count > 32768 || (count & (count - 1)) != 0 || bufferSize <= 0)
        {
            return -Errno.EINVAL;
        }
        nuint ringBytes = (nuint)(count * EntrySize);
        byte* ringMemory = (byte*)NativeMemory.AlignedAlloc(ringBytes, 4096);
        byte* buffers = (byte*)NativeMemory.AlignedAlloc((nuint)count * (nuint)bufferSize, 4096);
        NativeMemory.Clear(ringMemory, ringBytes);
        var reg = new BufReg { RingAddr = (ulong)ringMemory, RingEntries = (uint)count, Bgid = group };
        // Safety: reg is read by the kernel during the call only; the ring memory stays allocated until Dispose.
        long rc = Sys.Retry(new RegisterBufRingCall(ringFd, &reg));
        if (rc < 0)
        {
            NativeMemory.AlignedFree(ringMemory);
            NativeMemory.AlignedFree(buffers);
            return (int)rc;
        }
        ring = new IoUringBufferRing(ringMemory, buffers, count, bufferSize, group);
        for (int i = 0; i < count; i++)
        {
            ring.Add((ushort)i);
        }
        ring.Publish();
        return 0;
    }

    /// <summary>The buffer a completion with IORING_CQE_F_BUFFER filled (the top 16 bits of its flags).</summary>
    public static ushort BufferIdOf(uint cqeFlags) => (ushort)(cqeFlags >> 16);

    /// <summary>The first <paramref name="length"/> bytes of buffer <paramref name="id"/>.</summary>
    public ReadOnlySpan<byte> Bytes(ushort id, int length) =>
        // Safety: id < Count (the kernel only names buffers this ring gave it) and length <= BufferSize.
        new(_buffers + (nint)id * BufferSize, Math.Min(length, BufferSize));

    /// <summary>Gives buffer <paramref name="id"/> back to the kernel.</summary>
    public void Return(ushort id)
    {
        if (_disposed)
        {
            return;
        }
        Add(id);
        Publish();
    }

    private void Add(ushort id)
    {
        byte* entry = _ring + (_tail & _mask) * EntrySize;
        *(ulong*)entry = (ulong)(_buffers + (nint)id * BufferSize);
        *(uint*)(entry + 8) = (uint)BufferSize;
        *(ushort*)(entry + 12) = id;
        _tail++;
    }

    // The ring's tail lives in the reserved field of its first entry (struct io_uring_buf_ring); release, so the
    // entries written before are visible to the kernel no later than the tail that covers them.
    private void Publish() => Volatile.Write(ref *(ushort*)(_ring + 14), _tail);

    /// <summary>Frees the memory. Call after the ring it was registered with is disposed.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        NativeMemory.AlignedFree(_ring);
        NativeMemory.AlignedFree(_buffers);
    }

    /// <summary>struct io_uring_buf_reg.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BufReg
    {
        public ulong RingAddr;
        public uint RingEntries;
        public ushort Bgid;
        public ushort Flags;
        public ulong Resv0;
        public ulong Resv1;
        public ulong Resv2;
    }

    private readonly struct RegisterBufRingCall(int ringFd, BufReg* reg) : ISyscall
    {
        // IORING_REGISTER_PBUF_RING = 22.
        public long Invoke(int length) => LibC.io_uring_register(ringFd, 22, reg, 1);
    }
}
