using System.Runtime.InteropServices;

namespace Kevents.Native;

/// <summary>One pinned buffer of a scatter/gather call, laid out as the kernel's iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoSegment
{
    /// <summary>Start of the pinned buffer.</summary>
    public byte* Base;

    /// <summary>Length in bytes.</summary>
    public nuint Length;

    /// <summary>Describes <paramref name="length"/> bytes at <paramref name="start"/>.</summary>
    public IoSegment(byte* start, int length)
    {
        Base = start;
        Length = (nuint)length;
    }
}
