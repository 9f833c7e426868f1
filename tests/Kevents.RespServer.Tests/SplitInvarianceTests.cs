using System.Text;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using RespServer;

namespace Kevents.RespServer.Tests;

/// <summary>
/// The whole server in memory (no socket, a fixed clock): any split of a pipeline, one-byte pieces included, gives
/// the same replies, byte for byte, and the same decision to close, as the pipeline sent whole.
/// </summary>
public sealed class SplitInvarianceTests
{
    private sealed class Capture : IReplySink
    {
        public MemoryStream Bytes { get; } = new();

        public void Send(ReadOnlySpan<byte> replies) => Bytes.Write(replies);
    }

    private static readonly RespServerOptions Options = new()
    {
        Limits = new RespLimits { MaxInlineLength = 40, MaxBulkLength = 30, MaxMultiBulkCount = 6 },
    };

    /// <summary>The replies (as Latin-1) and whether the client was to be closed, for <paramref name="input"/> cut at <paramref name="cuts"/>.</summary>
    internal static (string Replies, bool Closed) Serve(byte[] input, int[] cuts)
    {
        using var server = new KeyValueServer(null, Options, NullLogger.Instance, clockMs: () => 1_000_000);
        RespSession session = server.OpenSession();
        var capture = new Capture();
        int start = 0;
        foreach (int end in cuts.Where(c => c > 0 && c < input.Length).Distinct().Order().Append(input.Length))
        {
            server.Feed(session, input.AsSpan(start, end - start), capture);
            start = end;
        }
        bool closed = session.CloseRequested;
        server.CloseSession(session);
        return (Encoding.Latin1.GetString(capture.Bytes.ToArray()), closed);
    }

    private static readonly string[] Commands =
    [
        "SET k 1\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nj\r\n$2\r\nab\r\n", "INCR k\r\n", "INCRBY k -5\n", "APPEND j xy\r\n", "GET k\r\n",
        "*2\r\n$3\r\nGET\r\n$1\r\nj\r\n", "MGET k j x\r\n", "DEL k\r\n", "EXISTS k j\r\n", "EXPIRE j 10\r\n", "TTL j\r\n", "PTTL k\r\n",
        "STRLEN j\r\n", "FOO bar\r\n", "GET\r\n", "PING\r\n", "ECHO \"a\\nb\"\r\n", "SET k v NX\r\n", "GETSET k w\r\n", "TYPE k\r\n",
        "DBSIZE\r\n", "\r\n", "*0\r\n", "QUIT\r\n",
        // Protocol errors: the client is answered and closed.
        "*1\r\nfoo\r\n", "*x\r\n", "*7\r\n", "*1\r\n$31\r\n", "SET \"a\r\n", new string('a', 45),
    ];

    [Fact]
    public void AnySplitGetsTheSameRepliesAsTheWhole()
    {
        Gen<byte[]> inputs = Gen.OneOf(
            Gen.Int[0, Commands.Length - 1].Array[1, 10].Select(picks => Encoding.Latin1.GetBytes(string.Concat(picks.Select(i => Commands[i])))),
            RespParserTests.Cases.Select(c => c.Input));
        Gen<(byte[] Input, int[] Cuts)> cases = inputs.SelectMany(input => Gen.OneOf(
                Gen.Const(Enumerable.Range(1, input.Length).ToArray()),
                Gen.Int[1, Math.Max(1, input.Length)].Array[1, 8])
            .Select(cuts => (input, cuts)));
        cases.Sample(c => Assert.Equal(Serve(c.Input, []), Serve(c.Input, c.Cuts)), iter: 20_000); // the whole server per case; the parser property runs 100,000
    }

    [Fact]
    public void RepliesOfAPipelineAreThoseOfItsCommandsInOrder()
    {
        (string replies, bool closed) = Serve(Encoding.Latin1.GetBytes("SET k 41\r\nINCR k\r\nGET k\r\nFOO\r\nQUIT\r\nPING\r\n"), []);
        Assert.Equal("+OK\r\n:42\r\n$2\r\n42\r\n-ERR unknown command 'FOO', with args beginning with: \r\n+OK\r\n", replies);
        Assert.True(closed);
    }
}
