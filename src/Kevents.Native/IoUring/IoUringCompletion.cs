namespace Kevents.Native;

/// <summary>One completed io_uring operation, copied out of the completion queue by <see cref="IoUringRing.TryReap"/>.</summary>
/// <param name="UserData">The value given when the operation was prepared, returned untouched.</param>
/// <param name="Result">
/// The operation's result: a count, a descriptor, 0, or <c>-errno</c> (for example -ENOENT from an open, -ECANCELED
/// for an operation that was cancelled).
/// </param>
/// <param name="Flags">The kernel's completion flags (<c>IORING_CQE_F_*</c>); 0 for every operation Kevents prepares today.</param>
internal readonly record struct IoUringCompletion(ulong UserData, int Result, uint Flags);
