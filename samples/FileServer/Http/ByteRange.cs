namespace FileServer.Http;

/// <summary>How a Range header applies to a file of a given length.</summary>
internal enum RangeOutcome
{
    /// <summary>No usable Range: serve the whole file with 200 (absent, not bytes, several ranges, or malformed).</summary>
    Whole,
    /// <summary>One satisfiable range: serve it with 206 and Content-Range.</summary>
    Partial,
    /// <summary>A well-formed range that lies outside the file: 416 with "Content-Range: bytes */length".</summary>
    Unsatisfiable,
}

/// <summary>Single byte ranges (RFC 9110 14.1.2): "bytes=a-b", "bytes=a-" and "bytes=-n".</summary>
internal static class ByteRange
{
    /// <summary>
    /// Applies <paramref name="header"/> to a file of <paramref name="length"/> bytes. On Partial,
    /// <paramref name="start"/> and <paramref name="count"/> say which bytes. A malformed or multi-range header is
    /// ignored (RFC 9110 allows a server to ignore Range), so the whole file is served.
    /// </summary>
    public static RangeOutcome Apply(string? header, long length, out long start, out long count)
    {
        start = 0;
        count = length;
        if (header is null)
        {
            return RangeOutcome.Whole;
        }
        ReadOnlySpan<char> spec = header.AsSpan().Trim();
        if (!spec.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return RangeOutcome.Whole;
        }
        spec = spec[6..].Trim();
        if (spec.Contains(','))
        {
            // Several ranges would need multipart/byteranges; the whole file is a correct answer too.
            return RangeOutcome.Whole;
        }
        int dash = spec.IndexOf('-');
        if (dash < 0)
        {
            return RangeOutcome.Whole;
        }
        ReadOnlySpan<char> first = spec[..dash].Trim();
        ReadOnlySpan<char> last = spec[(dash + 1)..].Trim();
        if (first.IsEmpty)
        {
            // Suffix range: the last n bytes.
            if (!TryDigits(last, out long suffix))
            {
                return RangeOutcome.Whole;
            }
            if (suffix == 0 || length == 0)
            {
                return RangeOutcome.Unsatisfiable;
            }
            count = Math.Min(suffix, length);
            start = length - count;
            return RangeOutcome.Partial;
        }
        if (!TryDigits(first, out long from))
        {
            return RangeOutcome.Whole;
        }
        long to = long.MaxValue;
        if (!last.IsEmpty && (!TryDigits(last, out to) || to < from))
        {
            return RangeOutcome.Whole;
        }
        if (from >= length)
        {
            return RangeOutcome.Unsatisfiable;
        }
        start = from;
        count = Math.Min(to, length - 1) - from + 1;
        return RangeOutcome.Partial;
    }

    private static bool TryDigits(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 18)
        {
            return false;
        }
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        return true;
    }
}
