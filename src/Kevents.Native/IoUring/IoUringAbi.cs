namespace Kevents.Native;

/// <summary>
/// io_uring ABI values that Tmds.LibC 0.5.0 does not define (include/uapi/linux/io_uring.h). The ones it does define
/// are used from <c>Tmds.Linux.LibC</c> directly.
/// </summary>
internal static class IoUringAbi
{
    /// <summary>IORING_SETUP_SUBMIT_ALL (5.18): keep submitting the batch after an entry fails.</summary>
    public const uint SetupSubmitAll = 1u << 7;

    /// <summary>IORING_SQ_CQ_OVERFLOW: in the SQ ring flags, set while the kernel holds completions the CQ had no room for.</summary>
    public const uint SqCqOverflow = 1u << 1;

    /// <summary>Entries in an io_uring_probe: one per possible 8-bit opcode.</summary>
    public const int ProbeOps = 256;
}
