using System.Reflection;
using Kevents.Http;

namespace Kevents.Fuzz;

/// <summary>
/// The HTTP/1.1 request-head parser, Kevents.Http's <see cref="HttpRequestParser"/> (the one HttpServer and FileServer
/// run).
/// The input is parsed as a pipelined stream (a head, then the next head from where it ended, up to 16), once whole
/// and once grown one byte at a time the way a connection feeds it; both must give the same heads and the same
/// error, since the answer may not depend on how the bytes were split.
/// </summary>
internal sealed class HttpRequestTarget : IFuzzTarget
{
    // Growing the buffer one byte at a time costs a parse per byte; beyond this, only the whole parse runs.
    private const int MaxIncrementalBytes = 4096;
    private const int MaxRequests = 16;

    public string Name => "http-request";

    public IReadOnlyList<Assembly> Instrumented { get; } = [typeof(HttpRequestParser).Assembly];

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

    /// <summary>Parses up to <see cref="MaxRequests"/> heads; describes each outcome as a string to compare.</summary>
    private static List<string> ParseStream(ReadOnlySpan<byte> input, bool incremental)
    {
        var outcomes = new List<string>();
        var parser = new HttpRequestParser();
        int start = 0;
        while (outcomes.Count < MaxRequests)
        {
            ReadOnlySpan<byte> rest = input[start..];
            HttpParseStatus status = HttpParseStatus.Incomplete;
            int consumed = 0;
            if (incremental)
            {
                for (int length = 1; length <= rest.Length && status == HttpParseStatus.Incomplete; length++)
                {
                    status = parser.Parse(rest[..length], out consumed);
                }
            }
            else if (!rest.IsEmpty)
            {
                status = parser.Parse(rest, out consumed);
            }
            switch (status)
            {
                case HttpParseStatus.Complete:
                    if (consumed <= 0 || consumed > rest.Length)
                    {
                        throw new FuzzInvariantException($"Complete with consumed={consumed} of {rest.Length} bytes");
                    }
                    outcomes.Add($"{consumed}:{parser.Request}");
                    start += consumed;
                    parser.Reset();
                    break;
                case HttpParseStatus.Error:
                    if (parser.ErrorStatus is < 400 or > 599 || parser.ErrorReason.Length == 0)
                    {
                        throw new FuzzInvariantException($"Error with status {parser.ErrorStatus} and reason '{parser.ErrorReason}'");
                    }
                    outcomes.Add($"error {parser.ErrorStatus} {parser.ErrorReason}");
                    return outcomes;
                default:
                    return outcomes;
            }
        }
        return outcomes;
    }
}
