namespace Kevents.Tests;

/// <summary>
/// Pull registrations (no handler) belong to <see cref="EventLoop.Poll"/>. Under <see cref="EventLoop.Run"/> nothing
/// would collect their kevents: registering one there is refused, and one made earlier is reported when it fires.
/// </summary>
public class PullUnderRunTests : LoopTest
{
    [Fact]
    public void RegisteringWithoutAHandlerWhileRunDispatchesIsRefusedWithWhatToDo()
    {
        EventLoop loop = NewLoop();
        Exception? refused = null;
        loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: false), (in Kevent _) =>
        {
            refused = Record.Exception(() => loop.Register(Kevent.User(2)));
            loop.Stop();
        });
        RunWithLimit(loop);
        var error = Assert.IsType<InvalidOperationException>(refused);
        Assert.Contains("Poll", error.Message);
        Assert.Contains("Pass a handler", error.Message);
        Assert.False(loop.IsRegistered(2, KeventFilter.User));
    }

    [Fact]
    public void PullRegistrationMadeBeforeRunIsReportedWhenItsKeventIsLostAndAtMostOnceASecond()
    {
        Gate.Expect(e => e.EventId.Name == "UnclaimedKevent");
        EventLoop loop = NewLoop();
        loop.Register(Kevent.User(3));
        int fired = 0;
        loop.Register(Kevent.Timer(4, TimeSpan.FromMilliseconds(5), periodic: true), (in Kevent _) =>
        {
            loop.Trigger(3);
            if (++fired == 10)
            {
                loop.Stop();
            }
        });
        RunWithLimit(loop);
        CapturingLoggerProvider.Entry[] reports = Gate.Logs.Entries.Where(e => e.EventId.Name == "UnclaimedKevent").ToArray();
        // Ten lost triggers in about 50 ms: one report, a warning that names the way out.
        var report = Assert.Single(reports);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, report.Level);
        Assert.Contains("Poll", report.Message);
    }

    [Fact]
    public void PollStillCollectsPullRegistrations()
    {
        EventLoop loop = NewLoop();
        loop.Register(Kevent.User(5, userData: 55));
        Assert.True(loop.Trigger(5));
        var events = new Kevent[4];
        int n = loop.Poll(events, TimeSpan.FromSeconds(5));
        Assert.Equal(1, n);
        Assert.Equal(55UL, events[0].UserData);
    }
}
