namespace RespServer;

/// <summary>
/// Redis' glob patterns (KEYS, SCAN MATCH, CONFIG GET): <c>*</c> any run, <c>?</c> one byte, <c>[abc]</c>,
/// <c>[^a-z]</c>, and <c>\</c> to take the next byte literally. Matched with one backtrack point per star, so a
/// pattern of many stars costs length times length, never exponential time.
/// </summary>
internal static class Glob
{
    public static bool IsMatch(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, bool ignoreCase = false)
    {
        int p = 0;
        int s = 0;
        int starPattern = -1;
        int starText = 0;
        while (s < text.Length)
        {
            if (p < pattern.Length && pattern[p] == (byte)'*')
            {
                starPattern = p++;
                starText = s;
                continue;
            }
            if (p < pattern.Length && MatchOne(pattern, p, text[s], ignoreCase, out int next))
            {
                p = next;
                s++;
                continue;
            }
            if (starPattern < 0)
            {
                return false;
            }
            p = starPattern + 1;
            s = ++starText;
        }
        while (p < pattern.Length && pattern[p] == (byte)'*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    /// <summary>Does the pattern element at <paramref name="p"/> match byte <paramref name="c"/>? <paramref name="next"/> is the element after it.</summary>
    private static bool MatchOne(ReadOnlySpan<byte> pattern, int p, byte c, bool ignoreCase, out int next)
    {
        switch (pattern[p])
        {
            case (byte)'?':
                next = p + 1;
                return true;
            case (byte)'[':
                return MatchClass(pattern, p + 1, c, ignoreCase, out next);
            case (byte)'\\' when p + 1 < pattern.Length:
                next = p + 2;
                return Same(pattern[p + 1], c, ignoreCase);
            default:
                next = p + 1;
                return Same(pattern[p], c, ignoreCase);
        }
    }

    private static bool MatchClass(ReadOnlySpan<byte> pattern, int p, byte c, bool ignoreCase, out int next)
    {
        bool negate = p < pattern.Length && pattern[p] == (byte)'^';
        if (negate)
        {
            p++;
        }
        bool match = false;
        while (p < pattern.Length && pattern[p] != (byte)']')
        {
            if (pattern[p] == (byte)'\\' && p + 1 < pattern.Length)
            {
                match |= Same(pattern[p + 1], c, ignoreCase);
                p += 2;
            }
            else if (p + 2 < pattern.Length && pattern[p + 1] == (byte)'-')
            {
                byte low = pattern[p];
                byte high = pattern[p + 2];
                if (low > high)
                {
                    (low, high) = (high, low);
                }
                byte folded = ignoreCase ? (byte)char.ToLowerInvariant((char)c) : c;
                match |= (c >= low && c <= high) || (folded >= low && folded <= high);
                p += 3;
            }
            else
            {
                match |= Same(pattern[p], c, ignoreCase);
                p++;
            }
        }
        // An unclosed class ends with the pattern, as in Redis.
        next = p < pattern.Length ? p + 1 : p;
        return match != negate;
    }

    private static bool Same(byte a, byte b, bool ignoreCase) =>
        a == b || (ignoreCase && char.ToLowerInvariant((char)a) == char.ToLowerInvariant((char)b));
}
