namespace Kevents.Native;

/// <summary>
/// What the running kernel's io_uring promises, as reported by io_uring_setup (<c>IORING_FEAT_*</c>). Bits the
/// kernel sets that Kevents does not name are kept in the value.
/// </summary>
[Flags]
internal enum IoUringFeatures : uint
{
    /// <summary>No features reported (a kernel older than 5.4).</summary>
    None = 0,
    /// <summary>The submission and completion rings share one mapping (5.4).</summary>
    SingleMmap = 1u << 0,
    /// <summary>Completions that do not fit the completion queue are held by the kernel instead of dropped (5.5).</summary>
    NoDrop = 1u << 1,
    /// <summary>Data an entry points to is read during submission, so it may change once Submit returns (5.5).</summary>
    SubmitStable = 1u << 2,
    /// <summary>An offset of -1 means the file's current position for reads and writes (5.6).</summary>
    ReadWriteCurrentPosition = 1u << 3,
    /// <summary>Requests run with the credentials of the submitting task (5.6).</summary>
    CurrentPersonality = 1u << 4,
    /// <summary>Operations on pollable files wait internally for readiness instead of using a worker thread (5.7).</summary>
    FastPoll = 1u << 5,
    /// <summary>Poll requests accept 32-bit event masks (5.9).</summary>
    Poll32Bits = 1u << 6,
    /// <summary>SQPOLL rings may use unregistered files (5.11).</summary>
    SqPollNonFixed = 1u << 7,
    /// <summary>io_uring_enter accepts an extended argument with a timeout (5.11).</summary>
    ExtendedArgument = 1u << 8,
    /// <summary>Async workers are threads of the submitting process (5.12).</summary>
    NativeWorkers = 1u << 9,
    /// <summary>Registered resources can carry tags (5.13).</summary>
    ResourceTags = 1u << 10,
}
