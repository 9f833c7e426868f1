using System.Buffers.Text;

namespace RespServer;

// Strings, counters, expiry and the key space.
internal static partial class Commands
{
    private static void Get(KeyValueServer server, RespSession session, RespArgs args)
    {
        Entry? entry = server.Keys.Read(args[1]);
        if (entry is null)
        {
            server.Writer.NullBulk();
            return;
        }
        server.Writer.Bulk(entry.Span);
    }

    private static void Set(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        KeySpace keys = server.Keys;
        bool nx = false, xx = false, get = false, keepTtl = false;
        int expiryArg = -1;
        ReadOnlySpan<byte> expiryKind = default;
        for (int i = 3; i < args.Count; i++)
        {
            ReadOnlySpan<byte> option = args[i];
            if (Is(option, "NX"u8) && !xx)
            {
                nx = true;
            }
            else if (Is(option, "XX"u8) && !nx)
            {
                xx = true;
            }
            else if (Is(option, "GET"u8))
            {
                get = true;
            }
            else if (Is(option, "KEEPTTL"u8) && expiryArg < 0)
            {
                keepTtl = true;
            }
            else if ((Is(option, "EX"u8) || Is(option, "PX"u8) || Is(option, "EXAT"u8) || Is(option, "PXAT"u8))
                && expiryArg < 0 && !keepTtl && i + 1 < args.Count)
            {
                expiryKind = option;
                expiryArg = ++i;
            }
            else
            {
                SyntaxError(w);
                return;
            }
        }
        long expiresAt = Entry.NoExpiry;
        if (expiryArg >= 0 && !TryExpiry(server, args[expiryArg], expiryKind, "set", out expiresAt))
        {
            return;
        }
        Entry? existing = keys.Find(args[1]);
        if (get)
        {
            if (existing is null)
            {
                w.NullBulk();
            }
            else
            {
                w.Bulk(existing.Span);
            }
        }
        if ((nx && existing is not null) || (xx && existing is null))
        {
            if (!get)
            {
                w.NullBulk();
            }
            return;
        }
        Entry entry = existing ?? keys.GetOrAdd(args[1], out _);
        keys.SetValue(entry, args[2]);
        if (!keepTtl)
        {
            keys.SetExpiry(entry, expiresAt);
        }
        if (!get)
        {
            w.Ok();
        }
    }

    /// <summary>EX/PX/EXAT/PXAT's value as a deadline on the key space's clock; false after replying with the error.</summary>
    private static bool TryExpiry(KeyValueServer server, ReadOnlySpan<byte> text, ReadOnlySpan<byte> kind, string command, out long expiresAt)
    {
        expiresAt = Entry.NoExpiry;
        if (!RespNumber.TryParseInt64(text, out long value))
        {
            NotInteger(server.Writer);
            return false;
        }
        bool seconds = Is(kind, "EX"u8) || Is(kind, "EXAT"u8);
        bool absolute = Is(kind, "EXAT"u8) || Is(kind, "PXAT"u8);
        if (value <= 0 || (seconds && value > long.MaxValue / 1000))
        {
            server.Writer.Error($"ERR invalid expire time in '{command}' command");
            return false;
        }
        long ms = seconds ? value * 1000 : value;
        long now = server.Keys.NowMs;
        // Absolute times are Unix times; the key space runs on the loop's monotonic clock, so convert by the offset.
        long relative = absolute ? ms - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : ms;
        if (relative > long.MaxValue - now - 1)
        {
            server.Writer.Error($"ERR invalid expire time in '{command}' command");
            return false;
        }
        expiresAt = now + relative;
        return true;
    }

    private static void SetNx(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (server.Keys.Find(args[1]) is not null)
        {
            server.Writer.Integer(0);
            return;
        }
        server.Keys.SetValue(server.Keys.GetOrAdd(args[1], out _), args[2]);
        server.Writer.Integer(1);
    }

    private static void SetEx(KeyValueServer server, RespSession session, RespArgs args) => SetWithExpiry(server, args, "EX"u8, "setex");

    private static void PSetEx(KeyValueServer server, RespSession session, RespArgs args) => SetWithExpiry(server, args, "PX"u8, "psetex");

    private static void SetWithExpiry(KeyValueServer server, RespArgs args, ReadOnlySpan<byte> kind, string command)
    {
        if (!TryExpiry(server, args[2], kind, command, out long expiresAt))
        {
            return;
        }
        Entry entry = server.Keys.GetOrAdd(args[1], out _);
        server.Keys.SetValue(entry, args[3]);
        server.Keys.SetExpiry(entry, expiresAt);
        server.Writer.Ok();
    }

    private static void GetSet(KeyValueServer server, RespSession session, RespArgs args)
    {
        Entry entry = server.Keys.GetOrAdd(args[1], out bool created);
        if (created)
        {
            server.Writer.NullBulk();
        }
        else
        {
            server.Writer.Bulk(entry.Span);
        }
        server.Keys.SetValue(entry, args[2]);
        server.Keys.SetExpiry(entry, Entry.NoExpiry);
    }

    private static void GetDel(KeyValueServer server, RespSession session, RespArgs args)
    {
        Entry? entry = server.Keys.Read(args[1]);
        if (entry is null)
        {
            server.Writer.NullBulk();
            return;
        }
        server.Writer.Bulk(entry.Span);
        server.Keys.Remove(args[1]);
    }

    private static void Delete(KeyValueServer server, RespSession session, RespArgs args)
    {
        long removed = 0;
        for (int i = 1; i < args.Count; i++)
        {
            if (server.Keys.Remove(args[i]))
            {
                removed++;
            }
        }
        server.Writer.Integer(removed);
    }

    private static void Exists(KeyValueServer server, RespSession session, RespArgs args)
    {
        long found = 0;
        for (int i = 1; i < args.Count; i++)
        {
            if (server.Keys.Find(args[i]) is not null)
            {
                found++;
            }
        }
        server.Writer.Integer(found);
    }

    private static void Incr(KeyValueServer server, RespSession session, RespArgs args) => AddTo(server, args[1], 1);

    private static void Decr(KeyValueServer server, RespSession session, RespArgs args) => AddTo(server, args[1], -1);

    private static void IncrBy(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (!RespNumber.TryParseInt64(args[2], out long by))
        {
            NotInteger(server.Writer);
            return;
        }
        AddTo(server, args[1], by);
    }

    private static void DecrBy(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (!RespNumber.TryParseInt64(args[2], out long by))
        {
            NotInteger(server.Writer);
            return;
        }
        if (by == long.MinValue)
        {
            server.Writer.Error("ERR decrement would overflow");
            return;
        }
        AddTo(server, args[1], -by);
    }

    private static void AddTo(KeyValueServer server, ReadOnlySpan<byte> key, long by)
    {
        Entry? entry = server.Keys.Find(key);
        long value = 0;
        if (entry is not null && !RespNumber.TryParseInt64(entry.Span, out value))
        {
            NotInteger(server.Writer);
            return;
        }
        if ((by > 0 && value > long.MaxValue - by) || (by < 0 && value < long.MinValue - by))
        {
            server.Writer.Error("ERR increment or decrement would overflow");
            return;
        }
        value += by;
        entry ??= server.Keys.GetOrAdd(key, out _);
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int n);
        // The time to live stays, as in Redis.
        server.Keys.SetValue(entry, digits[..n]);
        server.Writer.Integer(value);
    }

    private static void Append(KeyValueServer server, RespSession session, RespArgs args)
    {
        Entry? entry = server.Keys.Find(args[1]);
        long length = (entry?.Length ?? 0) + (long)args[2].Length;
        if (length > server.Options.Limits.MaxBulkLength)
        {
            server.Writer.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            return;
        }
        entry ??= server.Keys.GetOrAdd(args[1], out _);
        server.Keys.Append(entry, args[2]);
        server.Writer.Integer(entry.Length);
    }

    private static void StrLen(KeyValueServer server, RespSession session, RespArgs args) =>
        server.Writer.Integer(server.Keys.Find(args[1])?.Length ?? 0);

    private static void MGet(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        w.ArrayHeader(args.Count - 1);
        for (int i = 1; i < args.Count; i++)
        {
            Entry? entry = server.Keys.Read(args[i]);
            if (entry is null)
            {
                w.NullBulk();
            }
            else
            {
                w.Bulk(entry.Span);
            }
        }
    }

    private static void MSet(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (args.Count % 2 == 0)
        {
            WrongArity(server.Writer, "mset");
            return;
        }
        StoreAll(server, args);
        server.Writer.Ok();
    }

    private static void MSetNx(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (args.Count % 2 == 0)
        {
            WrongArity(server.Writer, "msetnx");
            return;
        }
        for (int i = 1; i < args.Count; i += 2)
        {
            if (server.Keys.Find(args[i]) is not null)
            {
                server.Writer.Integer(0);
                return;
            }
        }
        StoreAll(server, args);
        server.Writer.Integer(1);
    }

    private static void StoreAll(KeyValueServer server, RespArgs args)
    {
        for (int i = 1; i < args.Count; i += 2)
        {
            Entry entry = server.Keys.GetOrAdd(args[i], out _);
            server.Keys.SetValue(entry, args[i + 1]);
            server.Keys.SetExpiry(entry, Entry.NoExpiry);
        }
    }

    private static void Expire(KeyValueServer server, RespSession session, RespArgs args) => SetTimeToLive(server, args, seconds: true, "expire");

    private static void PExpire(KeyValueServer server, RespSession session, RespArgs args) => SetTimeToLive(server, args, seconds: false, "pexpire");

    private static void SetTimeToLive(KeyValueServer server, RespArgs args, bool seconds, string command)
    {
        ReplyWriter w = server.Writer;
        bool nx = false, xx = false, gt = false, lt = false;
        for (int i = 3; i < args.Count; i++)
        {
            ReadOnlySpan<byte> option = args[i];
            if (Is(option, "NX"u8))
            {
                nx = true;
            }
            else if (Is(option, "XX"u8))
            {
                xx = true;
            }
            else if (Is(option, "GT"u8))
            {
                gt = true;
            }
            else if (Is(option, "LT"u8))
            {
                lt = true;
            }
            else
            {
                w.Error($"ERR Unsupported option {Text(option)}");
                return;
            }
        }
        if (nx && (xx || gt || lt))
        {
            w.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
            return;
        }
        if (gt && lt)
        {
            w.Error("ERR GT and LT options at the same time are not compatible");
            return;
        }
        if (!RespNumber.TryParseInt64(args[2], out long value))
        {
            NotInteger(w);
            return;
        }
        long now = server.Keys.NowMs;
        if ((seconds && (value > long.MaxValue / 1000 || value < long.MinValue / 1000)))
        {
            w.Error($"ERR invalid expire time in '{command}' command");
            return;
        }
        long ms = seconds ? value * 1000 : value;
        if (ms > long.MaxValue - now - 1)
        {
            w.Error($"ERR invalid expire time in '{command}' command");
            return;
        }
        Entry? entry = server.Keys.Find(args[1]);
        if (entry is null)
        {
            w.Integer(0);
            return;
        }
        long expiresAt = ms <= 0 ? now : now + ms;
        bool persistent = entry.ExpiresAtMs == Entry.NoExpiry;
        if ((nx && !persistent) || (xx && persistent) || (gt && (persistent || expiresAt <= entry.ExpiresAtMs))
            || (lt && !persistent && expiresAt >= entry.ExpiresAtMs))
        {
            w.Integer(0);
            return;
        }
        if (ms <= 0)
        {
            // A time in the past deletes the key at once, as in Redis.
            server.Keys.Remove(args[1]);
        }
        else
        {
            server.Keys.SetExpiry(entry, expiresAt);
        }
        w.Integer(1);
    }

    private static void Ttl(KeyValueServer server, RespSession session, RespArgs args) => TimeToLive(server, args[1], seconds: true);

    private static void PTtl(KeyValueServer server, RespSession session, RespArgs args) => TimeToLive(server, args[1], seconds: false);

    private static void TimeToLive(KeyValueServer server, ReadOnlySpan<byte> key, bool seconds)
    {
        Entry? entry = server.Keys.Find(key);
        if (entry is null)
        {
            server.Writer.Integer(-2);
            return;
        }
        if (entry.ExpiresAtMs == Entry.NoExpiry)
        {
            server.Writer.Integer(-1);
            return;
        }
        long left = Math.Max(0, entry.ExpiresAtMs - server.Keys.NowMs);
        server.Writer.Integer(seconds ? (left + 500) / 1000 : left);
    }

    private static void Persist(KeyValueServer server, RespSession session, RespArgs args)
    {
        Entry? entry = server.Keys.Find(args[1]);
        if (entry is null || entry.ExpiresAtMs == Entry.NoExpiry)
        {
            server.Writer.Integer(0);
            return;
        }
        server.Keys.SetExpiry(entry, Entry.NoExpiry);
        server.Writer.Integer(1);
    }

    private static void TypeOf(KeyValueServer server, RespSession session, RespArgs args) =>
        server.Writer.Raw(server.Keys.Find(args[1]) is null ? "+none\r\n"u8 : "+string\r\n"u8);

    private static void DbSize(KeyValueServer server, RespSession session, RespArgs args) => server.Writer.Integer(server.Keys.Count);

    private static void Flush(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (args.Count > 2 || (args.Count == 2 && !Is(args[1], "ASYNC"u8) && !Is(args[1], "SYNC"u8)))
        {
            SyntaxError(server.Writer);
            return;
        }
        server.Keys.Clear();
        server.Writer.Ok();
    }

    private static void Keys(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReadOnlySpan<byte> pattern = args[1];
        var matched = new List<Entry>();
        bool everything = pattern.Length == 1 && pattern[0] == (byte)'*';
        foreach (Entry entry in server.Keys.Entries())
        {
            if (everything || Glob.IsMatch(pattern, entry.Key))
            {
                matched.Add(entry);
            }
        }
        server.Writer.ArrayHeader(matched.Count);
        foreach (Entry entry in matched)
        {
            server.Writer.Bulk(entry.Key);
        }
    }

    private static void Scan(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        if (!ulong.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong cursor))
        {
            w.Error("ERR invalid cursor");
            return;
        }
        int count = 10;
        int matchArg = -1;
        int typeArg = -1;
        for (int i = 2; i < args.Count; i++)
        {
            if (i + 1 >= args.Count)
            {
                SyntaxError(w);
                return;
            }
            if (Is(args[i], "COUNT"u8))
            {
                if (!RespNumber.TryParseInt64(args[i + 1], out long n))
                {
                    NotInteger(w);
                    return;
                }
                if (n < 1)
                {
                    SyntaxError(w);
                    return;
                }
                count = (int)Math.Min(n, 1_000_000);
            }
            else if (Is(args[i], "MATCH"u8))
            {
                matchArg = i + 1;
            }
            else if (Is(args[i], "TYPE"u8))
            {
                typeArg = i + 1;
            }
            else
            {
                SyntaxError(w);
                return;
            }
            i++;
        }
        var found = new List<Entry>();
        long next = server.Keys.Scan((long)Math.Min(cursor, long.MaxValue), count, found);
        ReadOnlySpan<byte> pattern = matchArg >= 0 ? args[matchArg] : default;
        bool onlyStrings = typeArg < 0 || Is(args[typeArg], "STRING"u8);
        if (matchArg >= 0 || !onlyStrings)
        {
            int kept = 0;
            for (int i = 0; i < found.Count; i++)
            {
                if (onlyStrings && (matchArg < 0 || Glob.IsMatch(pattern, found[i].Key)))
                {
                    found[kept++] = found[i];
                }
            }
            found.RemoveRange(kept, found.Count - kept);
        }
        w.ArrayHeader(2);
        w.BulkInteger(next);
        w.ArrayHeader(found.Count);
        foreach (Entry entry in found)
        {
            w.Bulk(entry.Key);
        }
    }
}
