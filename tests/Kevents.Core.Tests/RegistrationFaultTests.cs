using Kevents.Native;

namespace Kevents.Tests;

/// <summary>Registrations the kernel refuses for lack of room, made to happen with fault injection.</summary>
public class RegistrationFaultTests : LoopTest
{
    [Theory]
    [InlineData(Errno.ENOSPC, "max_user_watches")]
    [InlineData(Errno.ENOMEM, "out of memory")]
    public void RegistrationTheKernelHasNoRoomForIsAnIOExceptionThatSaysWhyAndLeavesTheLoopUsable(int errno, string why)
    {
        EventLoop loop = NewLoop();
        var (r, w) = TestUtil.Pipe();
        Own(r);
        Own(w);
        var plan = new FaultPlan().Fail(FaultSite.EpollControl, errno, 1, budget: 1);
        using (FaultInjection.Arm(plan))
        {
            var error = Assert.Throws<IOException>(() => loop.Register(Kevent.Read(r.Fd), (in Kevent _) => { }));
            Assert.Contains($"fd {r.Fd}", error.Message);
            Assert.Contains(why, error.Message);
        }
        Assert.False(loop.IsRegistered((ulong)r.Fd, KeventFilter.Read));
        // The refusal left nothing behind: the same descriptor registers and delivers once the kernel has room.
        bool delivered = false;
        loop.Register(Kevent.Read(r.Fd), (in Kevent _) =>
        {
            delivered = true;
            loop.Stop();
        });
        WriteByte(w);
        RunWithLimit(loop);
        Assert.True(delivered);
    }
}
