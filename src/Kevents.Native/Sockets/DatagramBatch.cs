using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Kevents.Native;

/// <summary>
/// A reusable set of datagrams for one batched socket call: what <see cref="NativeSocket.ReceiveBatch"/> fills, or
/// what <see cref="NativeSocket.SendBatch"/> sends. Every buffer is allocated once, on the pinned object heap, when
/// the batch is built; receiving into it or queueing into it allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// The caller owns the batch and must not use one from two threads at once. The spans it hands out point into its
/// own buffers and stay valid only until the next call that changes the batch.
/// </para>
/// <para>
/// Receiving splits the data buffer into <see cref="Capacity"/> equal slots of <see cref="SlotSize"/> bytes; a
/// datagram longer than its slot keeps its first <see cref="SlotSize"/> bytes and is marked truncated. Queueing for a
/// send packs the datagrams one after another, so a batch of 64 entries and 256 KiB can hold 64 small datagrams or
/// four of 64 KiB.
/// </para>
/// </remarks>
internal sealed unsafe class DatagramBatch
{
    /// <summary>The longest native socket address: sizeof(struct sockaddr_storage), 128 bytes.</summary>
    public const int AddressSize = 128;

    // The kernel reads and writes these arrays during recvmmsg/sendmmsg. They live on the pinned object heap, so the
    // raw pointers below stay valid for the life of the batch, and each header points into the other three.
    private readonly mmsghdr[] _headers;
    private readonly iovec[] _segments;
    private readonly byte[] _addresses;
    private readonly byte[] _data;

    // Entries [_head, _count) hold datagrams; a send consumes from _head. _tail is the end of the packed send data.
    private int _head;
    private int _count;
    private int _tail;

    /// <summary>A batch of up to <paramref name="capacity"/> datagrams sharing <paramref name="bufferSize"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Capacity is not 1..1024 (UIO_MAXIOV), or the buffer is smaller than the capacity.</exception>
    public DatagramBatch(int capacity, int bufferSize)
    {
        // The kernel caps one recvmmsg/sendmmsg call at UIO_MAXIOV (1024) messages.
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, capacity);
        Capacity = capacity;
        BufferSize = bufferSize;
        SlotSize = bufferSize / capacity;
        _headers = GC.AllocateArray<mmsghdr>(capacity, pinned: true);
        _segments = GC.AllocateArray<iovec>(capacity, pinned: true);
        _addresses = GC.AllocateArray<byte>(capacity * AddressSize, pinned: true);
        _data = GC.AllocateUninitializedArray<byte>(bufferSize, pinned: true);
    }

    /// <summary>The most datagrams one call moves.</summary>
    public int Capacity { get; }

    /// <summary>Bytes of datagram data the batch holds in all.</summary>
    public int BufferSize { get; }

    /// <summary>The room for each datagram when receiving: <see cref="BufferSize"/> / <see cref="Capacity"/>.</summary>
    public int SlotSize { get; }

    /// <summary>Datagrams held: received by the last receive, or queued and not yet sent.</summary>
    public int Count => _count - _head;

    /// <summary>Bytes of the datagrams held.</summary>
    public int Bytes
    {
        get
        {
            int total = 0;
            for (int i = _head; i < _count; i++)
            {
                total += (int)_headers[i].msg_len;
            }
            return total;
        }
    }

    /// <summary>The bytes of datagram <paramref name="index"/> (0 is the oldest held).</summary>
    public ReadOnlySpan<byte> GetData(int index)
    {
        int i = Check(index);
        iovec segment = _segments[i];
        // Safety: every segment points into _data (set by SetEntry), so the difference is an offset inside it.
        int offset = (int)((byte*)segment.iov_base - DataStart);
        return new ReadOnlySpan<byte>(_data, offset, (int)_headers[i].msg_len);
    }

    /// <summary>True when datagram <paramref name="index"/> was longer than its slot and only its start was kept (MSG_TRUNC).</summary>
    public bool IsTruncated(int index) => (_headers[Check(index)].msg_hdr.msg_flags & LibC.MSG_TRUNC) != 0;

    /// <summary>
    /// The native address (sockaddr bytes) of datagram <paramref name="index"/>: its sender after a receive with
    /// addresses, its destination when queued with one; empty otherwise. Compare these bytes to recognise a sender
    /// without building an <see cref="EndPoint"/>.
    /// </summary>
    public ReadOnlySpan<byte> GetAddress(int index)
    {
        int i = Check(index);
        msghdr header = _headers[i].msg_hdr;
        return header.msg_name is null ? default : new ReadOnlySpan<byte>(_addresses, i * AddressSize, (int)(uint)header.msg_namelen);
    }

    /// <summary>The address of datagram <paramref name="index"/> as an EndPoint (allocates), or null when there is none.</summary>
    public EndPoint? GetEndPoint(int index)
    {
        ReadOnlySpan<byte> address = GetAddress(index);
        return address.IsEmpty ? null : NativeSocket.ToEndPoint(address);
    }

    /// <summary>
    /// Queues a copy of <paramref name="data"/> for a later <see cref="NativeSocket.SendBatch"/>, to
    /// <paramref name="destination"/> (null: the connected peer). Returns false, copying nothing, when the batch has
    /// no entry or no bytes left for it.
    /// </summary>
    /// <param name="data">The datagram.</param>
    /// <param name="destination">Where to send it; null for the peer of a connected socket.</param>
    /// <param name="mapToIPv6">Write an IPv4 destination as an IPv4-mapped IPv6 address (for a dual-stack IPv6 socket).</param>
    public bool TryAdd(ReadOnlySpan<byte> data, EndPoint? destination, bool mapToIPv6 = false)
    {
        Span<byte> address = stackalloc byte[AddressSize];
        int length = 0;
        if (destination is not null)
        {
            length = NativeSocket.WriteAddress(destination, address, mapToIPv6);
            if (length < 0)
            {
                // An address we cannot encode: queue it without one and let the send report the kernel's error.
                length = 0;
            }
        }
        return TryAdd(data, address[..length]);
    }

    /// <summary>
    /// Queues a copy of <paramref name="data"/> to the native address <paramref name="sockaddr"/> (for instance one
    /// returned by <see cref="GetAddress"/>; empty for the connected peer). Returns false when it does not fit.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> data, ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length > AddressSize)
        {
            throw new ArgumentOutOfRangeException(nameof(sockaddr), sockaddr.Length, "A socket address is at most 128 bytes.");
        }
        if (data.Length > BufferSize)
        {
            return false;
        }
        if (_count == Capacity || data.Length > BufferSize - _tail)
        {
            Compact();
            if (_count == Capacity || data.Length > BufferSize - _tail)
            {
                return false;
            }
        }
        int i = _count;
        data.CopyTo(_data.AsSpan(_tail));
        sockaddr.CopyTo(_addresses.AsSpan(i * AddressSize));
        SetEntry(i, _tail, data.Length, sockaddr.IsEmpty ? 0 : sockaddr.Length);
        _headers[i].msg_len = (uint)data.Length;
        _tail += data.Length;
        _count++;
        return true;
    }

    /// <summary>Forgets the <paramref name="count"/> oldest datagrams (they were sent, or are being dropped).</summary>
    public void RemoveFirst(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        _head += count;
        if (_head == _count)
        {
            Clear();
        }
    }

    /// <summary>Forgets every datagram held.</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
        _tail = 0;
    }

    /// <summary>Points every header at its slot, ready for recvmmsg; called by <see cref="NativeSocket.ReceiveBatch"/>.</summary>
    internal void PrepareReceive(bool withAddresses)
    {
        Clear();
        for (int i = 0; i < Capacity; i++)
        {
            SetEntry(i, i * SlotSize, SlotSize, withAddresses ? AddressSize : 0);
            _headers[i].msg_len = 0;
        }
    }

    /// <summary>Records how many datagrams the kernel delivered into the prepared slots.</summary>
    internal void CompleteReceive(int received) => _count = received;

    /// <summary>The header of the oldest datagram held: where a send starts.</summary>
    internal mmsghdr* PendingHeaders
    {
        get
        {
            // Safety: _headers is on the pinned object heap (it never moves) and _head < Capacity whenever Count > 0.
            return (mmsghdr*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_headers)) + _head;
        }
    }

    // Safety: _data is on the pinned object heap, so its address never changes.
    private byte* DataStart => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_data));

    private void SetEntry(int i, int offset, int length, int addressLength)
    {
        // Safety: all four arrays are pinned for the batch's lifetime, so the pointers stored in the header stay
        // valid; offset + length lies inside _data and slot i inside _addresses (callers check both).
        ref iovec segment = ref _segments[i];
        segment.iov_base = DataStart + offset;
        segment.iov_len = (size_t)(ulong)length;
        msghdr header = default;
        header.msg_iov = (iovec*)Unsafe.AsPointer(ref segment);
        header.msg_iovlen = 1;
        if (addressLength > 0)
        {
            header.msg_name = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_addresses)) + i * AddressSize;
            header.msg_namelen = (socklen_t)addressLength;
        }
        _headers[i].msg_hdr = header;
    }

    /// <summary>Moves the unsent datagrams to the front so the freed entries and bytes can be reused.</summary>
    private void Compact()
    {
        if (_head == 0)
        {
            return;
        }
        int offset = 0;
        int kept = _count - _head;
        for (int j = 0; j < kept; j++)
        {
            int from = _head + j;
            ReadOnlySpan<byte> data = GetData(j);
            int length = data.Length;
            int addressLength = (int)(uint)_headers[from].msg_hdr.msg_namelen;
            bool hasAddress = _headers[from].msg_hdr.msg_name is not null;
            // Both moves go towards the front, so an overlapping copy is safe (Span.CopyTo behaves as memmove).
            data.CopyTo(_data.AsSpan(offset));
            _addresses.AsSpan(from * AddressSize, AddressSize).CopyTo(_addresses.AsSpan(j * AddressSize));
            SetEntry(j, offset, length, hasAddress ? addressLength : 0);
            _headers[j].msg_len = (uint)length;
            offset += length;
        }
        _head = 0;
        _count = kept;
        _tail = offset;
    }

    private int Check(int index)
    {
        if ((uint)index >= (uint)Count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The batch holds {Count} datagrams.");
        }
        return _head + index;
    }
}
