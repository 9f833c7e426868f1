namespace Kevents.Tests;

public class ReadmeExampleTests
{
    [Fact]
    public void ReadmeTimerExampleRunsAsShown()
    {
        var output = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(output);
        try
        {
            // The README's first example, verbatim apart from this wrapper.
            using var loop = new EventLoop();
            loop.Register(Kevent.Timer(ident: 1, TimeSpan.FromMilliseconds(100), periodic: false),
                (in Kevent ev) => { Console.WriteLine($"timer {ev.Ident} fired"); loop.Stop(); });
            loop.Run();
        }
        finally
        {
            Console.SetOut(original);
        }
        Assert.Equal("timer 1 fired" + Environment.NewLine, output.ToString());
    }
}
