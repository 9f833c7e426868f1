using FileServer.Http;

namespace Kevents.FileServer.Tests;

/// <summary>
/// The Range header on its own. The request parser and the path normaliser the server uses live in Kevents.Http now;
/// their tests (strictness, limits, split invariance) are in tests/Kevents.Http.Tests.
/// </summary>
public sealed class RangeTests
{
    [Theory]
    [InlineData("bytes=0-9", 100L, 0, 0L, 10L)]
    [InlineData("bytes=90-", 100L, 0, 90L, 10L)]
    [InlineData("bytes=-10", 100L, 0, 90L, 10L)]
    [InlineData("bytes=-1000", 100L, 0, 0L, 100L)]
    [InlineData("bytes=50-1000", 100L, 0, 50L, 50L)]
    [InlineData("bytes=100-", 100L, 1, 0L, 100L)]
    [InlineData("bytes=-0", 100L, 1, 0L, 100L)]
    [InlineData("bytes=0-0", 0L, 1, 0L, 0L)]
    [InlineData("bytes=9-1", 100L, 2, 0L, 100L)]
    [InlineData("bytes=0-1,5-6", 100L, 2, 0L, 100L)]
    [InlineData("items=0-1", 100L, 2, 0L, 100L)]
    [InlineData("bytes=x-1", 100L, 2, 0L, 100L)]
    public void RangesApply(string header, long length, int outcome, long start, long count)
    {
        // 0 partial, 1 unsatisfiable, 2 whole (the enum is internal to the sample).
        RangeOutcome expected = outcome switch { 0 => RangeOutcome.Partial, 1 => RangeOutcome.Unsatisfiable, _ => RangeOutcome.Whole };
        Assert.Equal(expected, ByteRange.Apply(header, length, out long s, out long c));
        Assert.Equal((start, count), (s, c));
    }
}
