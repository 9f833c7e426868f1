using System.Text;
using Kevents.Tests;

namespace Kevents.Native.Tests;

/// <summary>
/// The public file methods on FileDescriptor (what an application such as a file server uses instead of the
/// internal syscall layer): -errno for everyday failures, exceptions only for a null argument.
/// </summary>
public sealed class FileDescriptorTests : GatedTest
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("kevents-fd-");
    private readonly DirectoryInfo _outside = Directory.CreateTempSubdirectory("kevents-fd-outside-");

    public FileDescriptorTests()
    {
        Directory.CreateDirectory(Path.Combine(_root.FullName, "sub"));
        File.WriteAllText(Path.Combine(_root.FullName, "sub", "inner.txt"), "inner");
        File.WriteAllText(Path.Combine(_outside.FullName, "secret.txt"), "secret");
        File.CreateSymbolicLink(Path.Combine(_root.FullName, "escape"), Path.Combine(_outside.FullName, "secret.txt"));
    }

    [Fact]
    public void OpenOpensAnExistingFileAndAnswersEnoentForAMissingOne()
    {
        string path = Path.Combine(_root.FullName, "sub", "inner.txt");
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            Assert.NotNull(file);
            Assert.True(file.Fd >= 0);
        }

        Assert.Equal(-Errno.ENOENT, FileDescriptor.Open(Path.Combine(_root.FullName, "missing"), FileOpenFlags.ReadOnly, out FileDescriptor? missing));
        Assert.Null(missing);
        Assert.Equal(-Errno.ENOTDIR, FileDescriptor.Open(path, FileOpenFlags.Directory, out _));
        Assert.Throws<ArgumentNullException>(() => FileDescriptor.Open(null!, FileOpenFlags.ReadOnly, out _));
    }

    [Fact]
    public void OpenCreatesWithTheGivenModeAndCachedOnlyRefusesToCreate()
    {
        string path = Path.Combine(_root.FullName, "created.txt");
        // Creating may write to disk: the cache-only form cannot promise not to wait, so it says EAGAIN at once.
        Assert.Equal(-Errno.EAGAIN, FileDescriptor.Open(path, FileOpenFlags.WriteOnly | FileOpenFlags.Create, out FileDescriptor? refused, cachedOnly: true));
        Assert.Null(refused);
        Assert.False(File.Exists(path));

        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.WriteOnly | FileOpenFlags.Create | FileOpenFlags.Exclusive, out FileDescriptor? created,
            createMode: UnixFileMode.UserRead | UnixFileMode.UserWrite));
        created!.Dispose();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(-Errno.EEXIST, FileDescriptor.Open(path, FileOpenFlags.WriteOnly | FileOpenFlags.Create | FileOpenFlags.Exclusive, out _));
    }

    [Fact]
    public void OpenBeneathOpensInsideTheDirectory()
    {
        using FileDescriptor root = OpenRoot();
        Assert.Equal(0, root.OpenBeneath("sub/inner.txt", FileOpenFlags.ReadOnly, cachedOnly: false, out FileDescriptor? file));
        using (file)
        {
            byte[] buffer = new byte[16];
            long n = file!.Read(buffer, 0);
            Assert.Equal("inner", Encoding.ASCII.GetString(buffer, 0, (int)n));
        }
        Assert.Equal(0, root.OpenBeneath(".", FileOpenFlags.Directory, cachedOnly: false, out FileDescriptor? self));
        self!.Dispose();
    }

    [Theory]
    [InlineData("../kevents-outside/secret.txt", Errno.EXDEV)]
    [InlineData("/etc/passwd", Errno.EXDEV)]
    [InlineData("escape", Errno.EXDEV)]
    [InlineData("sub/../../x", Errno.EXDEV)]
    [InlineData("missing.txt", Errno.ENOENT)]
    [InlineData("/proc/self/fd/0", Errno.EXDEV)]
    public void OpenBeneathRefusesEveryPathThatLeavesTheDirectory(string path, int errno)
    {
        using FileDescriptor root = OpenRoot();
        Assert.Equal(-errno, root.OpenBeneath(path, FileOpenFlags.ReadOnly, cachedOnly: false, out FileDescriptor? file));
        Assert.Null(file);
    }

    [Fact]
    public void OpenBeneathRefusesCreateAndTruncateAndNullAndADisposedDirectory()
    {
        FileDescriptor root = OpenRoot();
        Assert.Equal(-Errno.EINVAL, root.OpenBeneath("new.txt", FileOpenFlags.WriteOnly | FileOpenFlags.Create, cachedOnly: false, out _));
        Assert.Equal(-Errno.EINVAL, root.OpenBeneath("sub/inner.txt", FileOpenFlags.WriteOnly | FileOpenFlags.Truncate, cachedOnly: false, out _));
        Assert.False(File.Exists(Path.Combine(_root.FullName, "new.txt")));
        Assert.Equal("inner", File.ReadAllText(Path.Combine(_root.FullName, "sub", "inner.txt")));
        Assert.Throws<ArgumentNullException>(() => root.OpenBeneath(null!, FileOpenFlags.ReadOnly, cachedOnly: false, out _));

        root.Dispose();
        // Never by number once disposed: the number may already name another directory.
        Assert.Equal(-Errno.EBADF, root.OpenBeneath("sub/inner.txt", FileOpenFlags.ReadOnly, cachedOnly: false, out FileDescriptor? file));
        Assert.Null(file);
    }

    [Fact]
    public void OpenBeneathCachedOnlyAnswersEagainWhenTheLookupWouldWait()
    {
        using FileDescriptor root = OpenRoot();
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileOpenCached, Errno.EAGAIN, probability: 1)))
        {
            Assert.Equal(-Errno.EAGAIN, root.OpenBeneath("sub/inner.txt", FileOpenFlags.ReadOnly, cachedOnly: true, out FileDescriptor? file));
            Assert.Null(file);
            // The blocking form is a different door and still opens.
            Assert.Equal(0, root.OpenBeneath("sub/inner.txt", FileOpenFlags.ReadOnly, cachedOnly: false, out file));
            file!.Dispose();
        }
    }

    [Fact]
    public void StatReportsTheOpenFileAndEbadfOnceDisposed()
    {
        string path = Path.Combine(_root.FullName, "sized.bin");
        File.WriteAllBytes(path, new byte[1234]);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        Assert.Equal(0, file!.Stat(out FileStatus status));
        Assert.Equal(1234, status.Length);
        Assert.True(status.IsRegularFile);
        Assert.False(status.IsDirectory);

        using FileDescriptor root = OpenRoot();
        Assert.Equal(0, root.Stat(out FileStatus dir));
        Assert.True(dir.IsDirectory);

        file.Dispose();
        Assert.Equal(-Errno.EBADF, file.Stat(out FileStatus after));
        Assert.Equal(default, after);
    }

    [Fact]
    public void ReadReadsAtTheOffsetAndAnswersZeroAtTheEnd()
    {
        string path = Path.Combine(_root.FullName, "digits.txt");
        File.WriteAllText(path, "0123456789");
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        {
            byte[] buffer = new byte[4];
            Assert.Equal(4, file!.Read(buffer, 3));
            Assert.Equal("3456", Encoding.ASCII.GetString(buffer));
            // The offset is the caller's, not a file position: the same read gives the same bytes.
            Assert.Equal(4, file.Read(buffer, 3));
            Assert.Equal("3456", Encoding.ASCII.GetString(buffer));
            Assert.Equal(2, file.Read(buffer, 8));
            Assert.Equal(0, file.Read(buffer, 10));
            Assert.Equal(-Errno.EINVAL, file.Read(buffer, -1));
        }
        Assert.Equal(-Errno.EBADF, file.Read(new byte[4], 0));
    }

    [Fact]
    public void ReadNoWaitAnswersEagainInsteadOfWaitingForTheDisk()
    {
        string path = Path.Combine(_root.FullName, "cold.bin");
        File.WriteAllBytes(path, new byte[64]);
        Assert.Equal(0, FileDescriptor.Open(path, FileOpenFlags.ReadOnly, out FileDescriptor? file));
        using (file)
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.FileReadNoWait, Errno.EAGAIN, probability: 1)))
        {
            Assert.Equal(-Errno.EAGAIN, file!.Read(new byte[64], 0, noWait: true));
            Assert.Equal(64, file.Read(new byte[64], 0));
        }
    }

    [Fact]
    public void ProcessLimitIsTheSoftOpenFilesLimit()
    {
        // /proc/self/limits: "Max open files            1024                 1048576              files"
        string line = File.ReadAllLines("/proc/self/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string soft = line["Max open files".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        long expected = soft == "unlimited" ? long.MaxValue : long.Parse(soft, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, FileDescriptor.ProcessLimit);
    }

    [Fact]
    public void SignalNumbersAreLinuxOnes()
    {
        Assert.Equal(Signals.SIGHUP, Tmds.Linux.LibC.SIGHUP);
        Assert.Equal(Signals.SIGINT, Tmds.Linux.LibC.SIGINT);
        Assert.Equal(Signals.SIGQUIT, Tmds.Linux.LibC.SIGQUIT);
        Assert.Equal(Signals.SIGUSR1, Tmds.Linux.LibC.SIGUSR1);
        Assert.Equal(Signals.SIGUSR2, Tmds.Linux.LibC.SIGUSR2);
        Assert.Equal(Signals.SIGTERM, Tmds.Linux.LibC.SIGTERM);
        Assert.Equal(Signals.SIGCHLD, Tmds.Linux.LibC.SIGCHLD);
        Assert.Equal(Signals.SIGWINCH, Tmds.Linux.LibC.SIGWINCH);
    }

    private FileDescriptor OpenRoot()
    {
        Assert.Equal(0, FileDescriptor.Open(_root.FullName, FileOpenFlags.Directory, out FileDescriptor? root));
        return root!;
    }

    public override void Dispose()
    {
        base.Dispose();
        _root.Delete(recursive: true);
        _outside.Delete(recursive: true);
    }
}
