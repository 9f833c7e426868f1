using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// A provided-buffer ring (IORING_REGISTER_PBUF_RING, Linux 5.19): <see cref="Count"/> buffers of
/// <see cref="BufferSize"/> bytes in native memory that the kernel picks from for receives marked with
/// IOSQE_BUFFER_SELECT and this ring's group; a completion names the buffer it filled
/// (<see cref="BufferIdOf"/>), and <see cref="Return"/> gives it back once its bytes were used. The ring has room for
/// <see cref="Capacity"/> buffers and starts with one chunk of them; <see cref="Grow"/> adds another chunk when the
/// kernel ran out (a receive ended with ENOBUFS), so memory follows the load: the kernel takes buffers in ring order,
/// so every buffer given to it is written to sooner or later, and a ring sized for the busiest moment up front would
/// make every loop hold that much.
/// </summary>
/// <remarks>
/// One owner thread, like the ring it is registered with. The memory lives until <see cref="Dispose"/>, which must come
/// after the ring was disposed (the kernel may write into buffers until then).
/// </remarks>
internal sealed unsafe class IoUringBufferRing : IDisposable
{
    private const int EntrySize = 16;
    private readonly byte* _ring;
    private readonly nint[] _chunks; // chunk k holds buffers k * ChunkSize .. (k + 1) * ChunkSize - 1
    private readonly ushort _mask;
    private readonly int _chunkShift;
    private ushort _tail;
    private bool _disposed;

    private IoUringBufferRing(byte* ring, int capacity, int chunkSize, int bufferSize, ushort group)
    {
        _ring = ring;
        _chunks = new nint[capacity / chunkSize];
        _chunkShift = System.Numerics.BitOperations.Log2((uint)chunkSize);
        Capacity = capacity;
        ChunkSize = chunkSize;
        BufferSize = bufferSize;
        Group = group;
        _mask = (ushort)(capacity - 1);
    }

    /// <summary>Buffers given to the kernel so far: a whole number of chunks, at most <see cref="Capacity"/>.</summary>
    public int Count { get; private set; }

    /// <summary>The most buffers the ring can hold (its entries, a power of two).</summary>
    public int Capacity { get; }

    /// <summary>Buffers added at a time: at creation and by each <see cref="Grow"/>.</summary>
    public int ChunkSize { get; }

    /// <summary>Bytes per buffer.</summary>
    public int BufferSize { get; }

    /// <summary>The buffer group id receives name in their entries.</summary>
    public ushort Group { get; }

    /// <summary>
    /// Registers a ring with room for <paramref name="capacity"/> buffers of <paramref name="bufferSize"/> bytes with
    /// <paramref name="ringFd"/> under <paramref name="group"/>, and gives the kernel the first
    /// <paramref name="chunkSize"/> of them (both powers of two, chunkSize &lt;= capacity &lt;= 32768). Returns 0, or
    /// -errno: -EINVAL on kernels before 5.19 (no provided-buffer rings), -ENOMEM.
    /// </summary>
    public static int Create(int ringFd, int capacity, int chunkSize, int bufferSize, ushort group, out IoUringBufferRing? ring)
    {
        ring = null;
        if (capacity <= 0 || capacity > 32768 || (capacity & (capacity - 1)) != 0
            || chunkSize <= 0 || chunkSize > capacity || (chunkSize & (chunkSize - 1)) != 0 || bufferSize <= 0)
        {
            return -Errno.EINVAL;
        }
        nuint ringBytes = (nuint)(capacity * EntrySize);
        byte* ringMemory = (byte*)NativeMemory.AlignedAlloc(ringBytes, 4096);
        NativeMemory.Clear(ringMemory, ringBytes);
        var reg = new BufReg { RingAddr = (ulong)ringMemory, RingEntries = (uint)capacity, Bgid = group };
        // Safety: reg is read by the kernel during the call only; the ring memory stays allocated until Dispose.
        long rc = Sys.Retry(new RegisterBufRingCall(ringFd, &reg));
        if (rc < 0)
        {
            NativeMemory.AlignedFree(ringMemory);
            return (int)rc;
        }
        ring = new IoUringBufferRing(ringMemory, capacity, chunkSize, bufferSize, group);
        ring.Grow();
        return 0;
    }

    /// <summary>
    /// Gives the kernel <see cref="ChunkSize"/> more buffers, unless the ring is full; true when it did. Buffers are
    /// never taken back: a loop that once needed them is likely to again.
    /// </summary>
    public bool Grow()
    {
        if (_disposed || Count == Capacity)
        {
            return false;
        }
        int chunk = Count >> _chunkShift;
        _chunks[chunk] = (nint)NativeMemory.AlignedAlloc((nuint)ChunkSize * (nuint)BufferSize, 4096);
        for (int i = 0; i < ChunkSize; i++)
        {
            Add((ushort)(Count + i));
        }
        Count += ChunkSize;
        Publish();
        return true;
    }

    /// <summary>The buffer a completion with IORING_CQE_F_BUFFER filled (the top 16 bits of its flags).</summary>
    public static ushort BufferIdOf(uint cqeFlags) => (ushort)(cqeFlags >> 16);

    /// <summary>The first <paramref name="length"/> bytes of buffer <paramref name="id"/>.</summary>
    public ReadOnlySpan<byte> Bytes(ushort id, int length) =>
        // Safety: id < Count (the kernel only names buffers this ring gave it) and length <= BufferSize.
        new(Address(id), Math.Min(length, BufferSize));

    private byte* Address(ushort id) => (byte*)_chunks[id >> _chunkShift] + (nint)(id & (ChunkSize - 1)) * BufferSize;

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
        *(ulong*)entry = (ulong)Address(id);
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
        foreach (nint chunk in _chunks)
        {
            if (chunk != 0)
            {
                NativeMemory.AlignedFree((void*)chunk);
            }
        }
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
