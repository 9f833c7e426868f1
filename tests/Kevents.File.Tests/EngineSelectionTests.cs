using Kevents.Hybrid.Internal;
using Kevents.File.Internal;
using Kevents.Native;
using Microsoft.Extensions.Logging;

namespace Kevents.File.Tests;

// docs/reliability.md: when io_uring cannot be set up, Auto falls back to threadlets cleanly; an explicit request fails
// with a clear error.
public sealed class EngineSelectionTests : FileTest
{
    [Theory]
    [InlineData(Errno.EPERM)]
    [InlineData(Errno.ENOSYS)]
    public void AutoFallsBackToThreadletsWhenRingSetupFails(int errno)
    {
        CreateFile("a.bin", 100);
        var plan = new FaultPlan().Fail(FaultSite.IoUringSetup, errno, 1);
        using (FaultInjection.Arm(plan))
        {
            RunOnLoop(async loop =>
            {
                await using AsyncFile file = await AsyncFile.OpenAsync(loop, PathOf("a.bin"));
                Assert.Equal(AsyncFileEngine.Threadlet, file.Engine);
                Assert.Equal(100, await file.ReadAsync(new byte[200], 0));
            });
        }
        Assert.True(plan.Injected(FaultSite.IoUringSetup) > 0, "ring setup was never tried");
    }

    [Fact]
    public void TheEnvironmentVariableSwitchesIoUringOff()
    {
        string? before = Environment.GetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable);
        Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, "0");
        try
        {
            using var loop = new EventLoop();
            Assert.Equal(AsyncFileEngine.Threadlet, loop.UseAsyncFiles());
        }
        finally
        {
            Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, before);
        }
    }

    [Fact]
    public void TheFallbackLogSaysTheEnvironmentSwitchTurnedIoUringOffNotEperm()
    {
        string? before = Environment.GetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable);
        Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, "0");
        using var logs = new Kevents.Tests.CapturingLoggerProvider();
        using ILoggerFactory factory = logs.CreateFactory();
        try
        {
            using var loop = new EventLoop(new EventLoopOptions { LoggerFactory = factory });
            Assert.Equal(AsyncFileEngine.Threadlet, loop.UseAsyncFiles());
            var options = new AsyncFileOptions { Engine = AsyncFileEngine.IoUring };
            using var other = new EventLoop(new EventLoopOptions { LoggerFactory = factory });
            var error = Assert.Throws<NotSupportedException>(() => other.UseAsyncFiles(options));
            Assert.Contains("KEVENTS_IO_URING=0", error.Message);
            Assert.DoesNotContain("EPERM", error.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(IoUringSetupOptions.DisableEnvironmentVariable, before);
        }
        var fallback = Assert.Single(logs.Entries, e => e.EventId.Name == "FellBackToThreadlets");
        Assert.Contains("KEVENTS_IO_URING=0", fallback.Message);
        Assert.DoesNotContain("EPERM", fallback.Message);
    }

    [Fact]
    public void AskingForIoUringWhereItIsUnavailableSaysSo()
    {
        using var loop = new EventLoop();
        var options = new AsyncFileOptions { Engine = AsyncFileEngine.IoUring };
        NotSupportedException error;
        using (FaultInjection.Arm(new FaultPlan().Fail(FaultSite.IoUringSetup, Errno.EPERM, 1)))
        {
            error = Assert.Throws<NotSupportedException>(() => loop.UseAsyncFiles(options));
        }
        Assert.Contains("io_uring is unavailable", error.Message);
    }

    [Theory]
    [InlineData(Errno.EACCES)]
    [InlineData(Errno.EPERM)]
    public void PermissionErrorsBecomeUnauthorizedAccessNamingThePath(int errno)
    {
        Exception error = FileErrors.For(-errno, "open", "/srv/secret");
        Assert.IsType<UnauthorizedAccessException>(error);
        Assert.Contains("/srv/secret", error.Message);
    }

    [Fact]
    public void MissingFilesBecomeFileNotFoundNamingThePath()
    {
        var error = Assert.IsType<FileNotFoundException>(FileErrors.For(-Errno.ENOENT, "open", "/srv/none"));
        Assert.Equal("/srv/none", error.FileName);
    }
}
