using Kevents.Fuzz;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// The fuzz seed corpus (bench/fuzz-corpus/TARGET/*, crashing inputs included once fixed) replayed through the same
/// targets bench/fuzz.sh runs under AFL++: every input must be handled as designed, a parse error being an answer,
/// and nothing may escape (an unexpected exception, or a target's invariant check failing).
/// </summary>
public class FuzzCorpusReplayTests : GatedTest
{
    private static readonly string s_corpus = FindCorpus();

    public static TheoryData<string, string> WiredInputs()
    {
        var data = new TheoryData<string, string>();
        foreach (IFuzzTarget target in FuzzTargets.All.Where(t => t.IsWired()))
        {
            foreach (string file in Directory.GetFiles(Path.Combine(s_corpus, target.Name)).Order(StringComparer.Ordinal))
            {
                data.Add(target.Name, Path.GetFileName(file));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(WiredInputs))]
    public void CorpusInputIsHandledWithoutAnUnexpectedException(string target, string file)
    {
        byte[] input = System.IO.File.ReadAllBytes(Path.Combine(s_corpus, target, file));
        FuzzTargets.Find(target)!.Run(input);
    }

    [Fact]
    public void EveryTargetHasASeedCorpusAndEveryCorpusATarget()
    {
        string[] directories = [.. Directory.GetDirectories(s_corpus).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(FuzzTargets.All.Select(t => t.Name).Order(StringComparer.Ordinal), directories);
        foreach (string directory in directories)
        {
            Assert.True(Directory.GetFiles(Path.Combine(s_corpus, directory)).Length >= 10, $"{directory} has fewer than 10 seeds");
        }
        // The path and request-parser targets are wired to FileServer's code today; the others wait for their parsers.
        Assert.True(FuzzTargets.Find("path")!.IsWired());
        Assert.True(FuzzTargets.Find("http-request")!.IsWired());
    }

    [Fact]
    public void TheRequestTargetChecksThatSplitInputParsesLikeWholeInput()
    {
        // A pipelined pair parses the same whole and byte by byte; the target returns quietly for it and for a
        // refused request alike. (A disagreement would throw FuzzInvariantException: that is what AFL++ hunts for.)
        IFuzzTarget target = FuzzTargets.Find("http-request")!;
        target.Run("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"u8);
        target.Run("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"u8);
    }

    [Fact]
    public void TheRespAndChunkedTargetsRunTheRealParsers()
    {
        // Valid and refused input alike return quietly; only a disagreement between whole and split parsing, or an
        // exception escaping a parser, throws.
        FuzzTargets.Find("resp")!.Run("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*1\r\n$4\r\nPING\r\n"u8);
        FuzzTargets.Find("resp")!.Run("*2\r\n$x\r\n"u8);
        FuzzTargets.Find("http-chunked")!.Run("5\r\nhello\r\n0\r\n\r\n"u8);
        FuzzTargets.Find("http-chunked")!.Run("ffffffffffffffffff\r\n"u8);
        Assert.All(FuzzTargets.All, t => Assert.True(t.IsWired(), $"fuzz target {t.Name} instruments no assembly"));
    }

    private static string FindCorpus()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "bench", "fuzz-corpus");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException($"bench/fuzz-corpus not found above {AppContext.BaseDirectory}");
    }
}
