using Kevents.Hybrid;

namespace Kevents.Hybrid.Tests;

public sealed class ReadmeExampleTests
{
    [Fact]
    public void ReadmeExampleReadsHostnameOnTheLoop()
    {
        // The README's example, as printed there, with the output captured.
        var output = new StringWriter();
        TextWriter previous = Console.Out;
        Console.SetOut(output);
        try
        {
            using var loop = new EventLoop();
            var buffer = new byte[4096];
            loop.Post(async () =>
            {
                int n = await loop.Threadlet(async t =>
                {
                    using var file = await t.OpenAsync("/etc/hostname"); // openat2(RESOLVE_CACHED) inline, else a thread
                    return await t.ReadAsync(file, buffer, offset: 0);    // preadv2(RWF_NOWAIT) inline, else a thread
                });
                Console.WriteLine($"read {n} bytes");
                loop.Stop();
            });
            loop.Run();
        }
        finally
        {
            Console.SetOut(previous);
        }
        long expected = new FileInfo("/etc/hostname").Length;
        Assert.Equal($"read {expected} bytes", output.ToString().Trim());
    }
}
