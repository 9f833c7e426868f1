using System.Text;
using CsCheck;

namespace Kevents.Http.Tests;

/// <summary>The chunked decoder in memory: valid and invalid codings, limits, and any split giving the same result.</summary>
public sealed class ChunkedDecoderTests
{
    private static readonly string[] Samples =
    [
        "0\r\n\r\n",
        "3\r\nabc\r\n0\r\n\r\n",
        "3;name=value\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\nNEXT",
        "1\r\na\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n",
        "00000003\r\nabc\r\n0\r\n\r\n",
        "fffffffffffffffff\r\n",
        "3\r\nabcd\r\n0\r\n\r\n",
        "3\nabc\r\n0\r\n\r\n",
        "3\r\nabc\n0\r\n\r\n",
        "x\r\n",
        "\r\n",
        "3;\0\r\nabc\r\n0\r\n\r\n",
        "0\r\n bad-trailer\r\n\r\n",
        "0\r\nT: a\rb\r\n\r\n",
        "-1\r\n",
        "3 \r\nabc\r\n0\r\n\r\n",
        "0\r\n\r",
    ];

    private static (HttpChunkedStatus Status, int Consumed, string Body, string Reason) DecodeWhole(byte[] input) =>
        DecodeInPieces(input, []);

    private static (HttpChunkedStatus Status, int Consumed, string Body, string Reason) DecodeInPieces(byte[] input, IEnumerable<int> cuts)
    {
        var decoder = new HttpChunkedDecoder();
        decoder.Reset();
        var body = new MemoryStream();
        byte[] output = new byte[7]; // a small output window: full-output returns are exercised too
        int at = 0;
        HttpChunkedStatus status = HttpChunkedStatus.NeedMore;
        foreach (int cut in cuts.Where(c => c > 0 && c < input.Length).Distinct().Order().Append(input.Length))
        {
            while (at < cut)
            {
                status = decoder.Decode(input.AsSpan(at, cut - at), output, out int used, out int written);
                body.Write(output, 0, written);
                at += used;
                if (status != HttpChunkedStatus.NeedMore)
                {
                    return (status, at, Encoding.Latin1.GetString(body.ToArray()), decoder.ErrorReason);
                }
                if (used == 0 && written == 0)
                {
                    break;
                }
            }
        }
        return (status, at, Encoding.Latin1.GetString(body.ToArray()), decoder.ErrorReason);
    }

    [Fact]
    public void AnySplitDecodesLikeTheWhole()
    {
        Gen<byte[]> inputs = Gen.OneOf(
            Gen.Int[0, Samples.Length - 1].Select(i => Encoding.Latin1.GetBytes(Samples[i])),
            Gen.Select(Gen.Int[0, Samples.Length - 1], Gen.Int[0, 4096], Gen.OneOfConst((byte)'\r', (byte)'\n', (byte)';', (byte)0, (byte)'0', (byte)'f', (byte)'a'),
                (i, at, b) =>
                {
                    byte[] bytes = Encoding.Latin1.GetBytes(Samples[i]);
                    bytes[at % bytes.Length] = b;
                    return bytes;
                }),
            Gen.OneOfConst((byte)'0', (byte)'1', (byte)'a', (byte)'F', (byte)';', (byte)'\r', (byte)'\n', (byte)':', (byte)' ', (byte)0).Array[0, 120]);
        Gen<(byte[], int[])> cases = inputs.SelectMany(input => Gen.OneOf(
                Gen.Const(Enumerable.Range(1, input.Length).ToArray()), // 1-byte pieces
                Gen.Int[1, Math.Max(1, input.Length)].Array[1, 8])
            .Select(cuts => (input, cuts)));
        cases.Sample(c =>
        {
            var (input, cuts) = c;
            Assert.Equal(DecodeWhole(input), DecodeInPieces(input, cuts));
        }, iter: 100_000);
    }

    [Theory]
    [InlineData(0, "")]
    [InlineData(1, "abc")]
    [InlineData(2, "abc0123456789")]
    [InlineData(3, "a")]
    [InlineData(4, "abc")]
    public void ValidBodiesDecode(int sample, string body)
    {
        var (status, consumed, decoded, _) = DecodeWhole(Encoding.Latin1.GetBytes(Samples[sample]));
        Assert.Equal(HttpChunkedStatus.Done, status);
        Assert.Equal(body, decoded);
        Assert.Equal(Samples[sample].Length - (Samples[sample].EndsWith("NEXT", StringComparison.Ordinal) ? 4 : 0), consumed);
    }

    [Theory]
    [InlineData(5, "chunk size overflow")]
    [InlineData(6, "chunk data not followed by CRLF")]
    [InlineData(7, "bad chunk size")] // a bare LF ends the size
    [InlineData(8, "chunk data not followed by CRLF")]
    [InlineData(9, "bad chunk size")]
    [InlineData(10, "bad chunk size")]
    [InlineData(11, "control character in a chunk extension")]
    [InlineData(12, "bad trailer field")]
    [InlineData(13, "bare CR in the trailer section")]
    [InlineData(14, "bad chunk size")]
    [InlineData(15, "bad chunk size")]
    public void BadCodingsAreRefused(int sample, string reason)
    {
        var (status, _, _, why) = DecodeWhole(Encoding.Latin1.GetBytes(Samples[sample]));
        Assert.Equal(HttpChunkedStatus.Error, status);
        Assert.Equal(reason, why);
    }

    [Fact]
    public void AHugeDeclaredChunkReservesNothing()
    {
        // 15 hex digits is allowed; the decoder only counts, so nothing is sized by the declared length.
        var decoder = new HttpChunkedDecoder();
        byte[] output = new byte[16];
        decoder.Decode("1\r\na\r\n"u8, output, out _, out _); // warm-up
        decoder.Reset();
        long before = GC.GetAllocatedBytesForCurrentThread();
        HttpChunkedStatus status = decoder.Decode("fffffffffffffff\r\nab"u8, output, out int used, out int written);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(HttpChunkedStatus.NeedMore, status);
        Assert.Equal((19, 2), (used, written));
    }

    [Fact]
    public void ExtensionAndTrailerLimitsHold()
    {
        var decoder = new HttpChunkedDecoder(maxLineBytes: 16, maxTrailerBytes: 20);
        Assert.Equal(HttpChunkedStatus.Error, decoder.Decode(Encoding.ASCII.GetBytes("1;" + new string('e', 20) + "\r\n"), new byte[8], out _, out _));
        decoder.Reset();
        Assert.Equal(HttpChunkedStatus.Error, decoder.Decode(Encoding.ASCII.GetBytes("0\r\nA: 123456789\r\nB: 123456789\r\n\r\n"), new byte[8], out _, out _));
        Assert.Equal("trailer section too large", decoder.ErrorReason);
    }
}
