using System.Collections.Concurrent;

namespace Kevents.Tests;

/// <summary>The handle Register returns, and idents the loop hands out.</summary>
public class RegistrationHandleTests : LoopTest
{
    [Fact]
    public void AllocatedIdentsAreUniqueAcrossThreadsAndAboveTheApplicationsRange()
    {
        EventLoop loop = NewLoop();
        var seen = new ConcurrentDictionary<ulong, bool>();
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 1000; i++)
            {
                Assert.True(seen.TryAdd(loop.AllocateIdent(), true), "an ident was handed out twice");
            }
        });
        Assert.Equal(4000, seen.Count);
        Assert.All(seen.Keys, ident => Assert.True(ident >= EventLoop.FirstAllocatedIdent, $"ident {ident} is in the application's range"));
    }

    [Fact]
    public void RegisterReturnsTheRegistrationsIdentity()
    {
        EventLoop loop = NewLoop();
        ulong ident = loop.AllocateIdent();
        Registration registration = loop.Register(Kevent.User(ident), (in Kevent _) => { });
        Assert.Same(loop, registration.Loop);
        Assert.Equal(ident, registration.Ident);
        Assert.Equal(KeventFilter.User, registration.Filter);
        Assert.True(registration.IsRegistered);
    }

    [Fact]
    public void DeleteStopsDeliveryOfAnEventAlreadyTriggered()
    {
        EventLoop loop = NewLoop();
        int deliveries = 0;
        Registration registration = loop.Register(Kevent.User(loop.AllocateIdent()), (in Kevent _) => deliveries++);
        Assert.True(loop.Trigger(registration.Ident));
        Assert.True(registration.Delete());
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, deliveries);
        Assert.False(loop.IsRegistered(registration.Ident, KeventFilter.User));
    }

    [Fact]
    public void DeleteStopsAPeriodicTimerAndADescriptorWatch()
    {
        EventLoop loop = NewLoop();
        var (a, b) = TestUtil.SocketPair();
        Own(a);
        Own(b);
        int ticks = 0, reads = 0;
        Registration timer = loop.Register(Kevent.PeriodicTimer(loop.AllocateIdent(), TimeSpan.FromMilliseconds(1)), (in Kevent _) =>
        {
            if (++ticks == 3)
            {
                loop.Stop();
            }
        });
        Registration read = loop.Register(Kevent.Read(b.Fd), (in Kevent _) => reads++);
        WriteByte(a);
        RunWithLimit(loop);
        Assert.True(reads > 0);

        Assert.True(timer.Delete());
        Assert.True(read.Delete());
        int ticksBefore = ticks, readsBefore = reads;
        RunFor(loop, TimeSpan.FromMilliseconds(50));
        Assert.Equal(ticksBefore, ticks);
        Assert.Equal(readsBefore, reads);
    }

    [Fact]
    public void DeletingTwiceOrAfterTheLoopIsDisposedIsHarmless()
    {
        EventLoop loop = NewLoop();
        Registration registration = loop.Register(Kevent.Timer(loop.AllocateIdent(), TimeSpan.FromHours(1)), (in Kevent _) => { });
        Assert.True(registration.Delete());
        Assert.False(registration.Delete());
        registration.Dispose();
        Assert.False(registration.IsRegistered);

        Registration outlived = loop.Register(Kevent.Timer(loop.AllocateIdent(), TimeSpan.FromHours(1)), (in Kevent _) => { });
        loop.Dispose();
        Assert.False(outlived.Delete());
    }

    [Fact]
    public void DeleteLeavesANewerRegistrationOfTheSameIdentityAlone()
    {
        EventLoop loop = NewLoop();
        ulong ident = loop.AllocateIdent();
        Registration first = loop.Register(Kevent.User(ident), (in Kevent _) => { });
        Assert.True(first.Delete());
        Registration second = loop.Register(Kevent.User(ident), (in Kevent _) => { });

        Assert.False(first.Delete()); // names the registration it came from, which is gone
        Assert.True(loop.IsRegistered(ident, KeventFilter.User));
        Assert.NotEqual(first, second);

        // Registering a live identity again modifies it: the earlier handle still names it.
        Registration modified = loop.Register(Kevent.User(ident, userData: 5), (in Kevent _) => { });
        Assert.Equal(second, modified);
        Assert.True(second.Delete());
        Assert.False(modified.IsRegistered);
    }

    [Fact]
    public void ADefaultRegistrationIsRefusedWithAMessageThatSaysWhy()
    {
        Registration none = default;
        var error = Assert.Throws<InvalidOperationException>(() => none.Delete());
        Assert.Contains("default Registration", error.Message);
        Assert.Throws<InvalidOperationException>(() => none.IsRegistered);
        Assert.Null(none.Loop);
    }

    [Fact]
    public void DeleteFromAnotherThreadWhileTheLoopRunsIsRefused()
    {
        EventLoop loop = NewLoop();
        Registration registration = loop.Register(Kevent.Timer(loop.AllocateIdent(), TimeSpan.FromHours(1)), (in Kevent _) => { });
        Exception? error = null;
        var thread = new Thread(() =>
        {
            while (!loop.IsRunning)
            {
                Thread.Sleep(1);
            }
            try
            {
                registration.Delete();
            }
            catch (Exception ex)
            {
                error = ex;
            }
            loop.Post(loop.Stop);
        });
        thread.Start();
        RunWithLimit(loop);
        thread.Join();
        Assert.IsType<InvalidOperationException>(error);
        Assert.Contains("loop thread", error!.Message);
        Assert.True(registration.IsRegistered);
    }
}
