using Tmds.Linux;

namespace Kevents.Native;

internal sealed unsafe partial class IoUringRing
{
    /// <summary>
    /// The three shared memory regions of a ring: SQ ring (head, tail, flags, index array), CQ ring (head, tail,
    /// overflow counter, completion entries) and the submission entry array. Kernels with IORING_FEAT_SINGLE_MMAP
    /// (5.4) serve both rings from one mapping, so <see cref="CqRing"/> then equals <see cref="SqRing"/>.
    /// </summary>
    private readonly struct Mappings
    {
        public readonly byte* SqRing;
        public readonly nuint SqRingSize;
        public readonly byte* CqRing;
        public readonly nuint CqRingSize;
        public readonly byte* Sqes;
        public readonly nuint SqesSize;

        private Mappings(byte* sqRing, nuint sqRingSize, byte* cqRing, nuint cqRingSize, byte* sqes, nuint sqesSize)
        {
            SqRing = sqRing;
            SqRingSize = sqRingSize;
            CqRing = cqRing;
            CqRingSize = cqRingSize;
            Sqes = sqes;
            SqesSize = sqesSize;
        }

        /// <summary>Maps the regions of <paramref name="ringFd"/> described by <paramref name="p"/>. Returns 0 or -errno (nothing left mapped).</summary>
        public static int Map(int ringFd, in io_uring_params p, out Mappings maps)
        {
            maps = default;
            nuint sqSize = p.sq_off.array + p.sq_entries * (nuint)sizeof(uint);
            nuint cqSize = p.cq_off.cqes + p.cq_entries * (nuint)sizeof(io_uring_cqe);
            bool single = (p.features & LibC.IORING_FEAT_SINGLE_MMAP) != 0;
            if (single)
            {
                sqSize = cqSize = Math.Max(sqSize, cqSize);
            }

            int rc = MapRegion(ringFd, sqSize, LibC.IORING_OFF_SQ_RING, out byte* sq);
            if (rc < 0)
            {
                return rc;
            }

            byte* cq = sq;
            if (!single)
            {
                rc = MapRegion(ringFd, cqSize, LibC.IORING_OFF_CQ_RING, out cq);
                if (rc < 0)
                {
                    LibC.munmap(sq, (size_t)(ulong)sqSize);
                    return rc;
                }
            }

            nuint sqesSize = p.sq_entries * (nuint)sizeof(io_uring_sqe);
            rc = MapRegion(ringFd, sqesSize, LibC.IORING_OFF_SQES, out byte* sqes);
            if (rc < 0)
            {
                if (!single)
                {
                    LibC.munmap(cq, (size_t)(ulong)cqSize);
                }
                LibC.munmap(sq, (size_t)(ulong)sqSize);
                return rc;
            }

            maps = new Mappings(sq, sqSize, cq, single ? 0 : cqSize, sqes, sqesSize);
            return 0;
        }

        /// <summary>Unmaps every region. Called once, by the ring's Dispose or by a failed Create.</summary>
        public void Unmap()
        {
            // munmap of a valid mapping cannot fail; its result is ignored.
            LibC.munmap(Sqes, (size_t)(ulong)SqesSize);
            if (CqRing != SqRing)
            {
                LibC.munmap(CqRing, (size_t)(ulong)CqRingSize);
            }
            LibC.munmap(SqRing, (size_t)(ulong)SqRingSize);
        }

        private static int MapRegion(int ringFd, nuint size, ulong offset, out byte* address)
        {
            // MAP_POPULATE faults the pages in now, so the first submission does not pay for it on the loop thread.
            void* p = LibC.mmap(null, (size_t)(ulong)size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED | LibC.MAP_POPULATE, ringFd, (long)offset);
            if (p == LibC.MAP_FAILED)
            {
                address = null;
                return -Errno.Last();
            }
            address = (byte*)p;
            return 0;
        }
    }
}
