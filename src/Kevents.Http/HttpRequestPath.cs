using System.Text;

namespace Kevents.Http;

/// <summary>
/// Turns a request target into a path relative to a served root, or refuses it. For a static file server this is the
/// first of two fences: it rejects anything that could name a file outside the root (after percent-decoding); the
/// open itself should then be confined too (<see cref="FileDescriptor.OpenBeneath"/>, openat2 with RESOLVE_BENEATH),
/// so the kernel refuses what slips past here (symbolic links that lead out, for instance).
/// </summary>
public static class HttpRequestPath
{
    private static readonly UTF8Encoding s_strictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>
    /// Resolves <paramref name="target"/>. Returns null with a reason when the target is refused (answer 400):
    /// bad percent-encoding, NUL or other control characters, backslashes, invalid UTF-8, a ".." segment, or a
    /// path starting with "//". "." and empty segments are dropped; the result has no leading slash and is ""
    /// for the root itself.
    /// </summary>
    public static string? Resolve(string target, out string reason)
    {
        reason = "";
        if (IsPlain(target))
        {
            return target[1..];
        }
        ReadOnlySpan<char> path = target;
        if (path.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || path.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            // Absolute-form: the authority is ours whatever it says; keep only the path.
            int schemeEnd = path.IndexOf("//", StringComparison.Ordinal) + 2;
            int slash = path[schemeEnd..].IndexOf('/');
            path = slash < 0 ? "/" : path[(schemeEnd + slash)..];
        }
        int query = path.IndexOfAny('?', '#');
        if (query >= 0)
        {
            path = path[..query];
        }
        if (path.IsEmpty || path[0] != '/')
        {
            reason = "path does not start with /";
            return null;
        }
        if (path.StartsWith("//"))
        {
            reason = "path starts with //";
            return null;
        }

        // Percent-decode into bytes first: traversal may be spelled %2e%2e or %2F, and names are UTF-8.
        Span<byte> decoded = path.Length <= 1024 ? stackalloc byte[path.Length] : new byte[path.Length];
        int length = 0;
        for (int i = 0; i < path.Length; i++)
        {
            char c = path[i];
            byte b;
            if (c == '%')
            {
                if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                {
                    reason = "bad percent-encoding";
                    return null;
                }
                b = (byte)(HexValue(path[i + 1]) * 16 + HexValue(path[i + 2]));
                i += 2;
            }
            else
            {
                b = (byte)c;
            }
            if (b < 0x20 || b == 0x7F)
            {
                reason = "control character (or NUL) in path";
                return null;
            }
            if (b == (byte)'\\')
            {
                reason = "backslash in path";
                return null;
            }
            decoded[length++] = b;
        }
        string text;
        try
        {
            text = s_strictUtf8.GetString(decoded[..length]);
        }
        catch (DecoderFallbackException)
        {
            reason = "path is not UTF-8";
            return null;
        }

        // Decoded "//" inside the path (e.g. /a/%2F/b) is just an empty segment, but a decoded leading one is not.
        if (text.StartsWith("//", StringComparison.Ordinal))
        {
            reason = "path starts with //";
            return null;
        }
        var result = new StringBuilder(text.Length);
        foreach (Range part in text.AsSpan(1).Split('/'))
        {
            ReadOnlySpan<char> segment = text.AsSpan(1)[part];
            if (segment.IsEmpty || segment is ".")
            {
                continue;
            }
            if (segment is "..")
            {
                reason = "'..' segment in path";
                return null;
            }
            if (result.Length > 0)
            {
                result.Append('/');
            }
            result.Append(segment);
        }
        return result.ToString();
    }

    /// <summary>
    /// The common case needs no decoding: "/" then plain segments with no escapes, query, backslash, empty segment
    /// or segment starting with a dot ("." and ".." both start with one). The parser already refused bytes outside
    /// visible ASCII.
    /// </summary>
    private static bool IsPlain(string target)
    {
        if (target.Length < 2 || target[0] != '/' || target[^1] == '/')
        {
            return false;
        }
        char previous = '/';
        for (int i = 1; i < target.Length; i++)
        {
            char c = target[i];
            if (c is '%' or '?' or '#' or '\\' || (previous == '/' && c is '/' or '.'))
            {
                return false;
            }
            previous = c;
        }
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
