namespace Kevents.Http;

/// <summary>
/// The <c>Date</c> header field, formatted once per second per thread (each loop is one thread, so no locking and no
/// allocation after the first call on a thread).
/// </summary>
internal static class HttpDate
{
    // "Date: " + 29 characters of IMF-fixdate + CRLF.
    private const int Length = 6 + 29 + 2;

    [ThreadStatic]
    private static byte[]? t_field;

    [ThreadStatic]
    private static long t_second;

    public static ReadOnlySpan<byte> Current()
    {
        DateTime now = DateTime.UtcNow;
        long second = now.Ticks / TimeSpan.TicksPerSecond;
        byte[]? field = t_field;
        if (field is null || second != t_second)
        {
            if (field is null)
            {
                field = new byte[Length];
                "Date: "u8.CopyTo(field);
                t_field = field;
            }
            new DateTime(second * TimeSpan.TicksPerSecond, DateTimeKind.Utc).TryFormat(field.AsSpan(6), out _, "R");
            field[^2] = (byte)'\r';
            field[^1] = (byte)'\n';
            t_second = second;
        }
        return field;
    }
}
