using System.Buffers;

namespace Kevents.Tests;

/// <summary>
/// Pools that hand out the shared pools' buffers and count what is out, so the leak gate can prove every buffer a
/// connection took went back. Installed once per process (<see cref="LeakGate"/> does it before its first baseline).
/// </summary>
public static class CountingPools
{
    private static readonly CountingMemoryPool s_segments = new();
    private static readonly CountingArrayPool s_arrays = new();
    private static int s_installed;

    /// <summary>Pipe segments and stream-API output arrays currently rented and not returned.</summary>
    public static long Outstanding => s_segments.Outstanding + s_arrays.Outstanding;

    /// <summary>Routes Kevents.Net's buffers through the counting pools (idempotent).</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 0)
        {
            Kevents.Net.Internal.NetBuffers.Segments = s_segments;
            Kevents.Net.Internal.NetBuffers.Arrays = s_arrays;
        }
    }

    private sealed class CountingArrayPool : ArrayPool<byte>
    {
        private long _outstanding;

        public long Outstanding => Interlocked.Read(ref _outstanding);

        public override byte[] Rent(int minimumLength)
        {
            Interlocked.Increment(ref _outstanding);
            return Shared.Rent(minimumLength);
        }

        public override void Return(byte[] array, bool clearArray = false)
        {
            Interlocked.Decrement(ref _outstanding);
            Shared.Return(array, clearArray);
        }
    }

    private sealed class CountingMemoryPool : MemoryPool<byte>
    {
        // Leases are reused, so counting costs no allocation per rent once warm (the loop's zero-allocation tests run
        // with this pool in place).
        private readonly System.Collections.Concurrent.ConcurrentQueue<Lease> _free = new();
        private long _outstanding;

        public long Outstanding => Interlocked.Read(ref _outstanding);

        public override int MaxBufferSize => int.MaxValue;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _outstanding);
            byte[] array = ArrayPool<byte>.Shared.Rent(minBufferSize <= 0 ? 4096 : minBufferSize);
            if (!_free.TryDequeue(out Lease? lease))
            {
                lease = new Lease(this);
            }
            lease.Take(array);
            return lease;
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Lease(CountingMemoryPool owner) : IMemoryOwner<byte>
        {
            private byte[]? _array;

            public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Lease), "A pooled buffer was used after it went back to its pool.");

            public void Take(byte[] array) => _array = array;

            public void Dispose()
            {
                byte[]? array = Interlocked.Exchange(ref _array, null);
                if (array is not null)
                {
                    Interlocked.Decrement(ref owner._outstanding);
                    ArrayPool<byte>.Shared.Return(array);
                    owner._free.Enqueue(this);
                }
            }
        }
    }
}
