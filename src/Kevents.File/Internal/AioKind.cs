namespace Kevents.File.Internal;

/// <summary>The file operations both engines run.</summary>
internal enum AioKind : byte
{
    Open,
    Read,
    Write,
    Fsync,
    Stat,
    Close,
}
