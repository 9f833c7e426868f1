using System.Text;
using CsCheck;

namespace Kevents.Http.Tests;

/// <summary>The request parser and path normaliser on their own, in memory: strictness, limits, split invariance.</summary>
public sealed class ParserTests
{
    internal static readonly string[] Samples =
    [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /x.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\nRange: bytes=1-5\r\n\r\n",
        "HEAD /a/b?q=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "\r\nGET /after-empty-line HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tabs:\t v \t\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        "GET /p HTTP/1.1\nHost: a\n\n",
        "GET /p HTTP/3.0\r\nHost: a\r\n\r\n",
        "GET /p HTTP/1.1\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "G@T /p HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET p HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /" + new string('l', 8200) + " HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\n" + string.Concat(Enumerable.Range(0, 101).Select(i => $"H{i}: v\r\n")) + "\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nBig: " + new string('v', 33_000) + "\r\n\r\n",
        "GET /p HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n",
        "GET / HTTP/1.1\rHost: a\r\r",
        "GET /" + new string('l', 8200) + "\rx HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nX\u0001: v\r\n\r\n",
    ];

    internal static (HttpParseStatus Status, int Consumed, string Result) ParseWhole(byte[] input)
    {
        var parser = new HttpRequestParser();
        HttpParseStatus status = parser.Parse(input, out int consumed);
        return (status, consumed, Describe(parser, status));
    }

    internal static (HttpParseStatus Status, int Consumed, string Result) ParseInPieces(byte[] input, IEnumerable<int> cuts)
    {
        // As the connection does: one growing buffer, parsed again after each append.
        var parser = new HttpRequestParser();
        foreach (int cut in cuts.Where(c => c > 0 && c < input.Length).Distinct().Order().Append(input.Length))
        {
            HttpParseStatus status = parser.Parse(input.AsSpan(0, cut), out int consumed);
            if (status != HttpParseStatus.Incomplete || cut == input.Length)
            {
                return (status, consumed, Describe(parser, status));
            }
        }
        throw new InvalidOperationException("unreachable");
    }

    private static string Describe(HttpRequestParser parser, HttpParseStatus status) => status switch
    {
        HttpParseStatus.Complete => parser.Request + " " + Headers(parser.Request),
        HttpParseStatus.Error => $"error {parser.ErrorStatus}",
        _ => "incomplete",
    };

    private static string Headers(HttpRequest request) => string.Join("|", Enumerable.Range(0, request.HeaderCount)
        .Select(i => Encoding.Latin1.GetString(request.GetHeaderName(i)) + "=" + Encoding.Latin1.GetString(request.GetHeaderValue(i))));

    [Fact]
    public void AnySplitParsesLikeTheWhole()
    {
        Gen<byte[]> inputs = Gen.OneOf(
            Gen.Int[0, Samples.Length - 1].Select(i => Encoding.Latin1.GetBytes(Samples[i])),
            // Mutations: a sample with one byte replaced by an interesting one.
            Gen.Select(Gen.Int[0, Samples.Length - 1], Gen.Int[0, 4096], Gen.OneOfConst((byte)'\r', (byte)'\n', (byte)' ', (byte)0, (byte)':', (byte)'\t', (byte)'a'),
                (i, at, b) =>
                {
                    byte[] bytes = Encoding.Latin1.GetBytes(Samples[i]);
                    bytes[at % bytes.Length] = b;
                    return bytes;
                }),
            // Random bytes from the parser's alphabet.
            Gen.OneOfConst("G"u8.ToArray()[0], (byte)'E', (byte)'T', (byte)' ', (byte)'/', (byte)'\r', (byte)'\n', (byte)':', (byte)'H', (byte)'1', (byte)'.', (byte)0).Array[0, 200]);
        Gen<(byte[], int[])> cases = inputs.SelectMany(input => Gen.OneOf(
                Gen.Const(Enumerable.Range(1, Math.Min(input.Length, 400)).ToArray()), // 1-byte pieces (first 400 bytes)
                Gen.Int[1, Math.Max(1, input.Length)].Array[1, 8])
            .Select(cuts => (input, cuts)));
        cases.Sample(c =>
        {
            var (input, cuts) = c;
            Assert.Equal(ParseWhole(input), ParseInPieces(input, cuts));
        }, iter: 100_000); // split invariance wants at least 100,000 cases per run
    }

    [Fact]
    public void CutsInsideCrlfParseLikeTheWhole()
    {
        foreach (string sample in Samples)
        {
            byte[] input = Encoding.Latin1.GetBytes(sample);
            for (int i = 0; i < input.Length; i++)
            {
                if (input[i] == (byte)'\r')
                {
                    Assert.Equal(ParseWhole(input), ParseInPieces(input, [i + 1]));
                }
            }
        }
    }

    [Theory]
    [InlineData(1, "GET /x.txt HTTP/1.1 cl=-1 chunked=False expect=False keepAlive=False headers=3 Host=a|Connection=close|Range=bytes=1-5")]
    [InlineData(2, "HEAD /a/b?q=1 HTTP/1.0 cl=-1 chunked=False expect=False keepAlive=True headers=1 Connection=keep-alive")]
    [InlineData(3, "GET /after-empty-line HTTP/1.1 cl=-1 chunked=False expect=False keepAlive=True headers=3 Host=a|X-Empty=|X-Tabs=v")]
    [InlineData(4, "POST /p HTTP/1.1 cl=3 chunked=False expect=False keepAlive=True headers=2 Host=a|Content-Length=3")]
    [InlineData(5, "POST /p HTTP/1.1 cl=-1 chunked=True expect=True keepAlive=True headers=3 Host=a|Transfer-Encoding=chunked|Expect=100-continue")]
    public void ValidHeadsParse(int sampleOffset, string expected)
    {
        string sample = Samples[sampleOffset];
        var (status, consumed, result) = ParseWhole(Encoding.Latin1.GetBytes(sample));
        Assert.Equal(HttpParseStatus.Complete, status);
        Assert.Equal(expected, result);
        Assert.Equal(sample.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4, consumed);
    }

    [Theory]
    [InlineData(6, 400)]   // CL + TE
    [InlineData(7, 400)]   // obs-fold
    [InlineData(8, 400)]   // space in a name
    [InlineData(9, 400)]   // CR inside a value
    [InlineData(10, 400)]  // bare LF
    [InlineData(11, 505)]
    [InlineData(12, 400)]  // no Host
    [InlineData(13, 400)]  // two Hosts
    [InlineData(14, 400)]  // negative Content-Length
    [InlineData(15, 400)]  // bad method
    [InlineData(16, 400)]  // target not origin-form
    [InlineData(18, 414)]
    [InlineData(19, 431)]  // 101 headers
    [InlineData(20, 431)]  // 33 KB header
    [InlineData(21, 400)]  // NUL in a value
    [InlineData(22, 400)]  // bare CRs and no line feed at all: refused without waiting for one
    [InlineData(23, 414)]  // a bare CR past the request line's limit: the limit answers first, however split
    [InlineData(24, 400)]  // duplicate Content-Length
    [InlineData(25, 501)]  // a coding other than chunked
    [InlineData(26, 400)]  // control character in a name
    public void BadHeadsAreRefused(int sample, int status)
    {
        Assert.Equal($"error {status}", ParseWhole(Encoding.Latin1.GetBytes(Samples[sample])).Result);
    }

    [Fact]
    public void ThePipelinedNextRequestIsLeftForTheNextParse()
    {
        byte[] input = Encoding.Latin1.GetBytes(Samples[17]);
        var parser = new HttpRequestParser();
        Assert.Equal(HttpParseStatus.Complete, parser.Parse(input, out int first));
        Assert.Equal("/p", parser.Request.Target);
        parser.Reset();
        Assert.Equal(HttpParseStatus.Complete, parser.Parse(input.AsSpan(first), out int second));
        Assert.Equal("/second", parser.Request.Target);
        Assert.Equal(input.Length, first + second);
    }

    [Fact]
    public void ParsingACommonRequestAllocatesNothing()
    {
        byte[] input = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n"u8.ToArray();
        var parser = new HttpRequestParser();
        for (int i = 0; i < 100; i++)
        {
            parser.Parse(input, out _);
            parser.Reset();
        }
        int complete = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            complete += parser.Parse(input, out _) == HttpParseStatus.Complete ? 1 : 0;
            parser.Reset();
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(10_000, complete);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void BareCrIsRefusedAsSoonAsTheByteAfterItArrives()
    {
        var parser = new HttpRequestParser();
        Assert.Equal(HttpParseStatus.Incomplete, parser.Parse("GET / HTTP/1.1\r"u8, out _));
        Assert.Equal(HttpParseStatus.Error, parser.Parse("GET / HTTP/1.1\rH"u8, out _));
        Assert.Equal((400, "bare CR"), (parser.ErrorStatus, parser.ErrorReason));
    }

    [Fact]
    public void LimitsApplyBeforeTheLineEnds()
    {
        var parser = new HttpRequestParser();
        byte[] endless = Encoding.ASCII.GetBytes("GET /" + new string('a', 9000));
        Assert.Equal(HttpParseStatus.Error, parser.Parse(endless, out _));
        Assert.Equal(414, parser.ErrorStatus);
    }

    [Fact]
    public void ABareParserHasNoBodyToRead()
    {
        var parser = new HttpRequestParser();
        parser.Parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"u8, out _);
        Assert.Throws<InvalidOperationException>(() => { _ = parser.Request.ReadBodyAsync(); });
    }

    [Theory]
    [InlineData("/", "")]
    [InlineData("/a/b.txt", "a/b.txt")]
    [InlineData("/a/./b.txt?x=1", "a/b.txt")]
    [InlineData("/a//b.txt", "a/b.txt")]
    [InlineData("/name%20with%20space.txt", "name with space.txt")]
    [InlineData("/caf%C3%A9", "café")]
    [InlineData("http://host/a.txt", "a.txt")]
    [InlineData("/../secret", null)]
    [InlineData("/%2e%2e/secret", null)]
    [InlineData("/%2E%2E%2Fsecret", null)]
    [InlineData("/a/%00", null)]
    [InlineData("//etc/passwd", null)]
    [InlineData("/%2F%2Fetc", null)]
    [InlineData("/..%5csecret", null)]
    [InlineData("/a\\b", null)]
    [InlineData("/%zz", null)]
    [InlineData("/%C3", null)]
    [InlineData("/a/..", null)]
    public void PathsNormaliseOrAreRefused(string target, string? expected)
    {
        Assert.Equal(expected, HttpRequestPath.Resolve(target, out _));
    }
}
