using System.Runtime.CompilerServices;

namespace Kevents.Tests;

public class KeventTests
{
    [Fact]
    public void KeventIsAtMost32Bytes() => Assert.True(Unsafe.SizeOf<Kevent>() <= 32, $"Kevent is {Unsafe.SizeOf<Kevent>()} bytes");

    [Fact]
    public void ReadFactoryCarriesFdFilterAndUserData()
    {
        Kevent ev = Kevent.Read(7, userData: 42, KeventFlags.Clear);
        Assert.Equal(7UL, ev.Ident);
        Assert.Equal(KeventFilter.Read, ev.Filter);
        Assert.Equal(KeventFlags.Clear, ev.Flags);
        Assert.Equal(42UL, ev.UserData);
    }

    [Fact]
    public void TimerFactoryStoresIntervalInNanosecondsAndPeriodicity()
    {
        Kevent oneShot = Kevent.Timer(3, TimeSpan.FromMilliseconds(250), periodic: false);
        Assert.Equal(250_000_000L, oneShot.Data);
        Assert.True((oneShot.Flags & KeventFlags.Oneshot) != 0);
        Kevent periodic = Kevent.Timer(4, TimeSpan.FromSeconds(1), periodic: true);
        Assert.Equal((uint)TimerFilterFlags.Periodic, periodic.FilterFlags);
        Assert.True((periodic.Flags & KeventFlags.Oneshot) == 0);
    }

    [Fact]
    public void BadFactoryArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Kevent.Read(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kevent.Timer(1, TimeSpan.FromMilliseconds(-5), periodic: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kevent.Timer(1, TimeSpan.Zero, periodic: true));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kevent.Signal(0));
    }

    [Fact]
    public void ToStringNamesFilterIdentAndFlags()
    {
        string text = new Kevent(9, KeventFilter.Write, KeventFlags.Eof | KeventFlags.Error, 0, -104, 0x2a).ToString();
        Assert.Contains("Write", text);
        Assert.Contains("ident=9", text);
        Assert.Contains("Eof", text);
        Assert.Contains("data=-104", text);
    }

    [Fact]
    public void FilterCountCoversEveryFilterValueWithoutGaps()
    {
        // Arrays indexed by filter (handlers, dispatch counters, metric tags) are KeventFilters.Count long: a new
        // filter must extend it, and values must stay dense from 0.
        int[] values = Enum.GetValues<KeventFilter>().Select(f => (int)f).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, KeventFilters.Count), values);
    }

    [Fact]
    public void NamedTimerFormsMatchTheBooleanForm()
    {
        TimeSpan interval = TimeSpan.FromMilliseconds(20);
        Assert.Equal(Kevent.Timer(7, interval, periodic: false, userData: 3), Kevent.Timer(7, interval, userData: 3));
        Assert.Equal(Kevent.Timer(7, interval, periodic: true, userData: 3), Kevent.PeriodicTimer(7, interval, userData: 3));
        Assert.NotEqual(Kevent.Timer(7, interval), Kevent.PeriodicTimer(7, interval));
        Assert.Throws<ArgumentOutOfRangeException>(() => Kevent.PeriodicTimer(7, TimeSpan.FromMicroseconds(10)));
    }
}
