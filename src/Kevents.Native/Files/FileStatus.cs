namespace Kevents;

/// <summary>What <c>statx</c> reported about a file, in Kevents' words: the fields a server needs to serve it.</summary>
public readonly record struct FileStatus
{
    private const int TypeMask = 0xF000;
    private const int TypeRegular = 0x8000;
    private const int TypeDirectory = 0x4000;
    private const int TypeFifo = 0x1000;

    /// <summary>Creates a status from its parts (tests and fakes use this; the kernel fills the rest).</summary>
    public FileStatus(long length, int mode, ulong inode, long lastWriteUnixNanoseconds, uint links)
    {
        Length = length;
        Mode = mode;
        Inode = inode;
        LastWriteUnixNanoseconds = lastWriteUnixNanoseconds;
        Links = links;
    }

    /// <summary>Size in bytes.</summary>
    public long Length { get; }

    /// <summary>The raw mode: file type bits and permission bits (<c>st_mode</c>).</summary>
    public int Mode { get; }

    /// <summary>The inode number.</summary>
    public ulong Inode { get; }

    /// <summary>Last modification time, in nanoseconds since the Unix epoch.</summary>
    public long LastWriteUnixNanoseconds { get; }

    /// <summary>Number of hard links.</summary>
    public uint Links { get; }

    /// <summary>The permission bits.</summary>
    public UnixFileMode Permissions => (UnixFileMode)(Mode & 0xFFF);

    /// <summary>True for a regular file.</summary>
    public bool IsRegularFile => (Mode & TypeMask) == TypeRegular;

    /// <summary>True for a directory.</summary>
    public bool IsDirectory => (Mode & TypeMask) == TypeDirectory;

    /// <summary>True for a named pipe.</summary>
    public bool IsFifo => (Mode & TypeMask) == TypeFifo;

    /// <summary>Last modification time as a <see cref="DateTimeOffset"/> (UTC).</summary>
    public DateTimeOffset LastWriteTime => DateTimeOffset.UnixEpoch.AddTicks(LastWriteUnixNanoseconds / 100);
}
