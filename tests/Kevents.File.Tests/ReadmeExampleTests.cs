namespace Kevents.File.Tests;

public class ReadmeExampleTests : FileTest
{
    // The first use of Console.Out duplicates stdout for the life of the process; do it before the fd baseline.
    static ReadmeExampleTests() => _ = Console.Out;

    [Fact]
    public void ReadmeAsyncFileExampleRunsAsShown()
    {
        var output = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(output);
        try
        {
            // The README's AsyncFile example, verbatim apart from this wrapper.
            using var loop = new EventLoop();
            loop.Post(async () =>
            {
                await using AsyncFile file = await AsyncFile.OpenAsync(loop, "/etc/hostname");
                var buffer = new byte[4096];
                int n = await file.ReadAsync(buffer, offset: 0);          // completes on the loop thread
                Console.WriteLine($"{file.Engine}: read {n} of {await file.GetLengthAsync()} bytes");
                loop.Stop();
            });
            loop.Run();
        }
        finally
        {
            Console.SetOut(original);
        }
        long length = new FileInfo("/etc/hostname").Length;
        Assert.Matches($"^(IoUring|Threadlet): read {length} of {length} bytes{Environment.NewLine}$", output.ToString());
    }
}
