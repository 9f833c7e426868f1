namespace Kevents;

/// <summary>How to open a file. Every file Kevents opens is also close-on-exec and non-blocking.</summary>
[Flags]
public enum FileOpenFlags
{
    /// <summary>Open for reading only.</summary>
    ReadOnly = 0,
    /// <summary>Open for writing only.</summary>
    WriteOnly = 1 << 0,
    /// <summary>Open for reading and writing.</summary>
    ReadWrite = 1 << 1,
    /// <summary>Create the file when it does not exist (never answered from the cache: it may write to disk).</summary>
    Create = 1 << 2,
    /// <summary>With <see cref="Create"/>: fail with EEXIST when the file exists.</summary>
    Exclusive = 1 << 3,
    /// <summary>Truncate an existing file to zero length (never answered from the cache).</summary>
    Truncate = 1 << 4,
    /// <summary>Every write appends.</summary>
    Append = 1 << 5,
    /// <summary>Fail when the path is not a directory.</summary>
    Directory = 1 << 6,
    /// <summary>Fail when the last component is a symbolic link.</summary>
    NoFollow = 1 << 7,
}
