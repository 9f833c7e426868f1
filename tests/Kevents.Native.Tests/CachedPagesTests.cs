using Kevents.Tests;

namespace Kevents.Native.Tests;

/// <summary>
/// The page-cache probe a loop asks before sendfile (mincore): yes for pages just written, no once they are
/// dropped, no under an injected miss, -EBADF for a disposed file; never an exception.
/// </summary>
public sealed class CachedPagesTests : GatedTest
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"kevents-cached-{Guid.NewGuid():N}.bin");

    public CachedPagesTests() => File.WriteAllBytes(_path, new byte[256 * 1024 + 100]);

    [Fact]
    public void WrittenPagesAreCachedAndDroppedOnesAreNot()
    {
        Assert.Equal(0, FileDescriptor.Open(_path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            Assert.Equal(1, file!.CachedPages(0, 256 * 1024 + 100));
            Assert.Equal(1, file.CachedPages(5000, 1)); // a range inside one page
            Assert.Equal(1, file.CachedPages(0, 0));
            NativeFile.DropCache(file.Fd);
            if (NativeFile.Read(file.Fd, new byte[1], 0, noWait: true) != -Errno.EAGAIN)
            {
                return; // This file system keeps the pages (tmpfs): nothing to drop, the injected miss below still runs.
            }
            NativeFile.DropCache(file.Fd); // the missed read above starts readahead: drop that too
            Assert.Equal(0, file.CachedPages(0, 256 * 1024 + 100));
            Assert.Equal(0, file.CachedPages(128 * 1024, 4096));
            // Read the first page back: a range that starts cached and goes on cold is not cached.
            Assert.Equal(1, file.Read(new byte[1], 0));
            Assert.Equal(1, file.CachedPages(0, 1));
            Assert.Equal(0, file.CachedPages(0, 256 * 1024 + 100));
        }
    }

    [Fact]
    public void InjectedMissAnswersNotCachedAndADisposedFileAnswersEbadf()
    {
        Assert.Equal(0, FileDescriptor.Open(_path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileCacheProbe, Errno.EAGAIN, probability: 1)))
        {
            Assert.Equal(0, file!.CachedPages(0, 4096));
        }
        Assert.Equal(1, file.CachedPages(0, 4096));
        file.Dispose();
        Assert.Equal(-Errno.EBADF, file.CachedPages(0, 4096));
    }

    public override void Dispose()
    {
        File.Delete(_path);
        base.Dispose();
    }
}
