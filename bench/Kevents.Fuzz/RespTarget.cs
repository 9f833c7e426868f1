using System.Reflection;
using RespServer;

namespace Kevents.Fuzz;

/// <summary>
/// The RESP request parser of samples/RespServer (<see cref="RespParser"/>), with small limits so that limit errors
/// are reachable. The input is parsed as a pipelined stream of commands (multibulk and inline), once whole and once
/// grown one byte at a time the way a connection feeds it; both must give the same commands (arguments byte for byte),
/// the same skips and the same protocol error, since replies may not depend on how the bytes were split.
/// </summary>
internal sealed class RespTarget : IFuzzTarget
{
    private const int MaxIncrementalBytes = 4096;
    private const int MaxCommands = 64;

    private static readonly RespLimits Limits = new() { MaxInlineLength = 256, MaxBulkLength = 1024, MaxMultiBulkCount = 64 };

    public string Name => "resp";

    public IReadOnlyList<Assembly> Instrumented { get; } = [typeof(RespParser).Assembly];

    public void Run(ReadOnlySpan<byte> input)
    {
        List<string> whole = ParseStream(input, incremental: false);
        if (input.Length <= MaxIncrementalBytes)
        {
            List<string> pieces = ParseStream(input, incremental: true);
            if (!whole.SequenceEqual(pieces))
            {
                throw new FuzzInvariantException(
                    $"parsed whole: [{string.Join(" | ", whole)}] but byte by byte: [{string.Join(" | ", pieces)}]");
            }
        }
    }

    private static List<string> ParseStream(ReadOnlySpan<byte> input, bool incremental)
    {
        var outcomes = new List<string>();
        var parser = new RespParser(Limits);
        int start = 0;
        while (outcomes.Count < MaxCommands && start < input.Length)
        {
            ReadOnlySpan<byte> rest = input[start..];
            RespParseStatus status = RespParseStatus.NeedMore;
            int consumed = 0;
            int seen = rest.Length;
            if (incremental)
            {
                for (seen = 1; seen <= rest.Length; seen++)
                {
                    status = parser.Parse(rest[..seen], out consumed);
                    if (status != RespParseStatus.NeedMore)
                    {
                        break;
                    }
                }
                seen = Math.Min(seen, rest.Length);
            }
            else
            {
                status = parser.Parse(rest, out consumed);
            }
            switch (status)
            {
                case RespParseStatus.Command:
                case RespParseStatus.Skipped:
                    if (consumed <= 0 || consumed > seen)
                    {
                        throw new FuzzInvariantException($"{status} with consumed={consumed} of {seen} bytes");
                    }
                    outcomes.Add(status == RespParseStatus.Skipped ? $"skip {consumed}" : Describe(parser, rest[..seen], consumed));
                    start += consumed;
                    break;
                case RespParseStatus.ProtocolError:
                    if (string.IsNullOrEmpty(parser.Error))
                    {
                        throw new FuzzInvariantException("ProtocolError without an error text");
                    }
                    outcomes.Add($"error {parser.Error}");
                    return outcomes;
                default:
                    return outcomes;
            }
        }
        return outcomes;
    }

    private static string Describe(RespParser parser, ReadOnlySpan<byte> input, int consumed)
    {
        RespArgs args = parser.Arguments(input);
        var parts = new string[args.Count];
        for (int i = 0; i < args.Count; i++)
        {
            parts[i] = Convert.ToHexString(args[i]);
        }
        return $"{consumed}:[{string.Join(',', parts)}]";
    }
}
