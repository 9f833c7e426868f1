using System.Text;
using CsCheck;
using RespServer;

namespace Kevents.RespServer.Tests;

/// <summary>The parser alone, in memory: what it reads, what it refuses, and that any split of any input reads the same.</summary>
public sealed class RespParserTests
{
    // Small limits, so that inputs of a few hundred bytes reach every limit.
    private static readonly RespLimits Small = new() { MaxInlineLength = 40, MaxBulkLength = 30, MaxMultiBulkCount = 6 };

    /// <summary>Everything the parser reports for <paramref name="input"/> fed whole, one line per result, then the bytes left over.</summary>
    internal static List<string> ParseWhole(byte[] input, RespLimits? limits = null) => ParseInPieces(input, [], limits);

    /// <summary>The same, with the input arriving in pieces cut at <paramref name="cuts"/>, held as a server holds them.</summary>
    internal static List<string> ParseInPieces(byte[] input, int[] cuts, RespLimits? limits = null)
    {
        var parser = new RespParser(limits);
        var results = new List<string>();
        var held = new List<byte>();
        int[] ends = cuts.Where(c => c > 0 && c < input.Length).Distinct().Order().Append(input.Length).ToArray();
        int start = 0;
        foreach (int end in ends)
        {
            held.AddRange(input[start..end]);
            start = end;
            byte[] buffer = held.ToArray();
            int position = 0;
            while (true)
            {
                ReadOnlySpan<byte> rest = buffer.AsSpan(position);
                RespParseStatus status = parser.Parse(rest, out int used);
                if (status == RespParseStatus.NeedMore)
                {
                    break;
                }
                if (status == RespParseStatus.ProtocolError)
                {
                    results.Add("error: " + parser.Error);
                    return results;
                }
                if (status == RespParseStatus.Command)
                {
                    RespArgs args = parser.Arguments(rest);
                    var text = new StringBuilder("command");
                    for (int i = 0; i < args.Count; i++)
                    {
                        text.Append(" [").Append(Convert.ToHexString(args[i])).Append(']');
                    }
                    results.Add(text.ToString());
                }
                else
                {
                    results.Add("skipped " + used);
                }
                position += used;
            }
            held.RemoveRange(0, position);
        }
        results.Add("left " + held.Count);
        return results;
    }

    private static List<string> Parse(string input, RespLimits? limits = null) => ParseWhole(Encoding.Latin1.GetBytes(input), limits);

    private static string Command(params string[] args) => "command" + string.Concat(args.Select(a => $" [{Convert.ToHexString(Encoding.Latin1.GetBytes(a))}]"));

    [Fact]
    public void MultiBulkAndInlineCommandsParseInPlace()
    {
        Assert.Equal([Command("SET", "k", "v\r\n\0"), Command("GET", "k"), "left 0"],
            Parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\n\0\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
        Assert.Equal([Command("SET", "a b", "it's", "\t\x41\n"), Command("PING"), "left 0"],
            Parse("SET \"a b\" 'it\\'s' \"\\t\\x41\\n\"\r\nPING\n"));
        Assert.Equal([Command("GET", "k"), "left 0"], Parse("GET k\0ignored after a NUL\r\n"));
    }

    [Fact]
    public void AnIncompleteCommandWaitsAndIsNotParsedTwice()
    {
        var parser = new RespParser();
        byte[] whole = Encoding.ASCII.GetBytes("*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n");
        for (int length = 0; length < whole.Length; length++)
        {
            Assert.Equal(RespParseStatus.NeedMore, parser.Parse(whole.AsSpan(0, length), out int used));
            Assert.Equal(0, used);
        }
        Assert.Equal(RespParseStatus.Command, parser.Parse(whole, out int consumed));
        Assert.Equal(whole.Length, consumed);
        Assert.Equal("hello", Encoding.ASCII.GetString(parser.Argument(whole, 1)));
    }

    [Theory]
    [InlineData("\r\n", "skipped 2")]
    [InlineData("   \n", "skipped 4")]
    [InlineData("*0\r\n", "skipped 4")]
    [InlineData("*-10\r\n", "skipped 6")]
    [InlineData("*3000000000\r\n", "error: invalid multibulk length")]
    [InlineData("*1048577\r\n", "error: invalid multibulk length")]
    [InlineData("*01\r\n", "error: invalid multibulk length")]
    [InlineData("* 1\r\n", "error: invalid multibulk length")]
    [InlineData("*1\r\n$-10\r\n", "error: invalid bulk length")]
    [InlineData("*1\r\n$blabla\r\n", "error: invalid bulk length")]
    [InlineData("*1\r\n$536870913\r\n", "error: invalid bulk length")]
    [InlineData("*1\r\nfoo\r\n", "error: expected '$', got 'f'")]
    [InlineData("SET \"a\r\n", "error: unbalanced quotes in request")]
    [InlineData("SET \"a\"b\r\n", "error: unbalanced quotes in request")]
    [InlineData("SET 'a\r\n", "error: unbalanced quotes in request")]
    public void RedisCasesReadAsRedisReadsThem(string input, string expected) => Assert.Equal(expected, Parse(input)[0]);

    [Fact]
    public void LimitsHoldWhateverTheSplit()
    {
        Assert.Equal("error: too big inline request", Parse(new string('a', 41) + "\n", Small)[0]);
        Assert.Equal("error: too big inline request", Parse(new string('a', 41), Small)[0]);
        Assert.Equal(["left 40"], Parse(new string('a', 40), Small));
        Assert.Equal("error: too big mbulk count string", Parse("*" + new string('1', 41), Small)[0]);
        Assert.Equal("error: too big bulk count string", Parse("*1\r\n$" + new string('1', 41), Small)[0]);
        Assert.Equal("error: invalid bulk length", Parse("*1\r\n$31\r\n", Small)[0]);
        Assert.Equal("error: invalid multibulk length", Parse("*7\r\n", Small)[0]);
        Assert.Equal(["left 9"], Parse("*6\r\n$30\r\n", Small));
    }

    private static readonly string[] Fragments =
    [
        "*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nab\r\n", "PING\r\n",
        "SET \"a b\" 'c\\'d'\r\n", "ECHO \"\\x41\\n\"\n", "\r\n", "*0\r\n", "*-1\r\n", "  \t\r\n", "GET k\0junk\r\n",
        "*6\r\n$30\r\n" + new string('x', 30) + "\r\n", "*1\r\n$0\r\n\r\n",
        // Invalid, each in its own way.
        "*x\r\n", "*1\r\n$-1\r\n", "*1\r\nPING\r\n", "*7\r\n", "*1\r\n$31\r\n", "SET \"a\n", new string('a', 45), "*" + new string('9', 45),
        "*1\r\n$" + new string('1', 45), "\0\0\0",
    ];

    private static readonly Gen<byte[]> Inputs = Gen.OneOf(
        // Concatenations of fragments: pipelines, mostly valid, sometimes broken.
        Gen.Int[0, Fragments.Length - 1].Array[1, 8].Select(picks => Encoding.Latin1.GetBytes(string.Concat(picks.Select(i => Fragments[i])))),
        // A valid command with one byte replaced by an interesting one, or random bytes.
        Gen.Select(Gen.Int[0, 12], Gen.Int[0, 200], Gen.OneOfConst((byte)'\r', (byte)'\n', (byte)' ', (byte)0, (byte)'*', (byte)'$', (byte)'"', (byte)'\'', (byte)'\\', (byte)'-', (byte)'9'),
            (i, at, b) =>
            {
                byte[] bytes = Encoding.Latin1.GetBytes(Fragments[i] + Fragments[(i + 1) % 13]);
                bytes[at % bytes.Length] = b;
                return bytes;
            }),
        Gen.Byte.Array[0, 80]);

    internal static readonly Gen<(byte[] Input, int[] Cuts)> Cases = Inputs.SelectMany(input => Gen.OneOf(
            Gen.Const(Enumerable.Range(1, input.Length).ToArray()), // one-byte pieces
            Gen.Int[1, Math.Max(1, input.Length)].Array[1, 8])
        .Select(cuts => (input, cuts)));

    [Fact]
    public void AnySplitParsesLikeTheWhole()
    {
        Cases.Sample(c =>
        {
            Assert.Equal(ParseWhole(c.Input, Small), ParseInPieces(c.Input, c.Cuts, Small));
        }, iter: 100_000); // split invariance wants at least 100,000 cases per run
    }

    [Fact]
    public void CutsInsideEveryCrlfParseLikeTheWhole()
    {
        byte[] input = Encoding.Latin1.GetBytes(string.Concat(Fragments));
        for (int i = 0; i < input.Length; i++)
        {
            if (input[i] == (byte)'\r')
            {
                Assert.Equal(ParseWhole(input, Small), ParseInPieces(input, [i + 1], Small));
            }
        }
    }
}
