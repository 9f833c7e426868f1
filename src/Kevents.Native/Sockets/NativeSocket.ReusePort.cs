using Tmds.Linux;

namespace Kevents.Native;

internal static unsafe partial class NativeSocket
{
    // Classic BPF opcodes (linux/filter.h) and the ancillary load that reads the current CPU.
    private const ushort BpfLdWordAbs = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort BpfRetA = 0x06 | 0x10;             // BPF_RET | BPF_A
    private const uint SkfAdOff = unchecked((uint)-0x1000);
    private const uint SkfAdCpu = 36;

    /// <summary>
    /// Attaches to a SO_REUSEPORT listener a classic BPF program (SO_ATTACH_REUSEPORT_CBPF) that picks, for every
    /// new connection, the listener whose index in the port's group equals the CPU that received the packet. The
    /// program applies to the whole group, so attaching it to one member is enough. Listeners join the group in the
    /// order they start listening, so listener i must be the i-th to listen and serve CPU i; a CPU whose number is
    /// not below the group's size falls back to the kernel's hash. Returns 0 or -errno.
    /// </summary>
    internal static int AttachReusePortCpuProgram(int fd)
    {
        // ld [SKF_AD_OFF + SKF_AD_CPU]; ret A
        SockFilter* program = stackalloc SockFilter[2];
        program[0] = new SockFilter { Code = BpfLdWordAbs, JumpTrue = 0, JumpFalse = 0, K = SkfAdOff + SkfAdCpu };
        program[1] = new SockFilter { Code = BpfRetA, JumpTrue = 0, JumpFalse = 0, K = 0 };
        var fprog = new SockFprog { Length = 2, Filter = program };
        return (int)Sys.Retry(new AttachCall(fd, &fprog));
    }

    private struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    private struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    private readonly struct AttachCall(int fd, SockFprog* program) : ISyscall
    {
        public long Invoke(int length) =>
            LibC.setsockopt(fd, LibC.SOL_SOCKET, LibC.SO_ATTACH_REUSEPORT_CBPF, program, (socklen_t)sizeof(SockFprog));
    }
}
