using System.Text;

namespace RespServer;

// Publish/subscribe, as RESP2 has it: a subscribed client may only (un)subscribe, PING and QUIT; messages are pushed
// to it as arrays. StackExchange.Redis subscribes on its second connection as soon as it connects.
internal static partial class Commands
{
    private static void Subscribe(KeyValueServer server, RespSession session, RespArgs args) => Subscribe(server, session, args, pattern: false);

    private static void PSubscribe(KeyValueServer server, RespSession session, RespArgs args) => Subscribe(server, session, args, pattern: true);

    private static void Subscribe(KeyValueServer server, RespSession session, RespArgs args, bool pattern)
    {
        ReplyWriter w = server.Writer;
        for (int i = 1; i < args.Count; i++)
        {
            server.PubSub.Subscribe(session, args[i], pattern);
            w.ArrayHeader(3);
            w.Bulk(pattern ? "psubscribe"u8 : "subscribe"u8);
            w.Bulk(args[i]);
            w.Integer(session.SubscriptionCount);
        }
    }

    private static void Unsubscribe(KeyValueServer server, RespSession session, RespArgs args) => Unsubscribe(server, session, args, pattern: false);

    private static void PUnsubscribe(KeyValueServer server, RespSession session, RespArgs args) => Unsubscribe(server, session, args, pattern: true);

    private static void Unsubscribe(KeyValueServer server, RespSession session, RespArgs args, bool pattern)
    {
        ReplyWriter w = server.Writer;
        ReadOnlySpan<byte> kind = pattern ? "punsubscribe"u8 : "unsubscribe"u8;
        if (args.Count == 1)
        {
            // No names: every channel (or pattern) this client has; "nothing" answered once when it has none.
            byte[][] all = session.Subscriptions(pattern).ToArray();
            if (all.Length == 0)
            {
                w.ArrayHeader(3);
                w.Bulk(kind);
                w.NullBulk();
                w.Integer(session.SubscriptionCount);
            }
            foreach (byte[] name in all)
            {
                server.PubSub.Unsubscribe(session, name, pattern);
                w.ArrayHeader(3);
                w.Bulk(kind);
                w.Bulk(name);
                w.Integer(session.SubscriptionCount);
            }
            return;
        }
        for (int i = 1; i < args.Count; i++)
        {
            server.PubSub.Unsubscribe(session, args[i], pattern);
            w.ArrayHeader(3);
            w.Bulk(kind);
            w.Bulk(args[i]);
            w.Integer(session.SubscriptionCount);
        }
    }

    private static void Publish(KeyValueServer server, RespSession session, RespArgs args) =>
        server.Writer.Integer(server.PubSub.Publish(args[1], args[2]));

    /// <summary>The commands a client in subscribed mode may run (RESP2).</summary>
    private static bool AllowedWhileSubscribed(CommandSpec spec) => spec.Name is "subscribe" or "unsubscribe" or "psubscribe" or "punsubscribe" or "ping" or "quit";

    private static void NotWhileSubscribed(ReplyWriter w, CommandSpec spec) =>
        w.Error($"ERR Can't execute '{spec.Name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
}

/// <summary>
/// Channels and patterns of one loop, and their subscribers. A message is encoded once and written to each
/// subscriber's connection. Loop thread only.
/// </summary>
internal sealed class PubSub
{
    private readonly Dictionary<byte[], HashSet<RespSession>> _channels = new(ByteKeyComparer.Instance);
    private readonly Dictionary<byte[], HashSet<RespSession>> _patterns = new(ByteKeyComparer.Instance);

    public int ChannelCount => _channels.Count;

    public int PatternCount => _patterns.Count;

    public void Subscribe(RespSession session, ReadOnlySpan<byte> name, bool pattern)
    {
        byte[] key = name.ToArray();
        if (!session.Subscriptions(pattern).Add(key))
        {
            return;
        }
        Dictionary<byte[], HashSet<RespSession>> map = pattern ? _patterns : _channels;
        if (!map.TryGetValue(key, out HashSet<RespSession>? subscribers))
        {
            map[key] = subscribers = [];
        }
        subscribers.Add(session);
    }

    public void Unsubscribe(RespSession session, ReadOnlySpan<byte> name, bool pattern)
    {
        byte[] key = name.ToArray();
        if (!session.Subscriptions(pattern).Remove(key))
        {
            return;
        }
        Dictionary<byte[], HashSet<RespSession>> map = pattern ? _patterns : _channels;
        if (map.TryGetValue(key, out HashSet<RespSession>? subscribers) && subscribers.Remove(session) && subscribers.Count == 0)
        {
            map.Remove(key);
        }
    }

    /// <summary>Drops every subscription of a client that is going away.</summary>
    public void Forget(RespSession session)
    {
        foreach (bool pattern in new[] { false, true })
        {
            foreach (byte[] name in session.Subscriptions(pattern).ToArray())
            {
                Unsubscribe(session, name, pattern);
            }
        }
    }

    /// <summary>Delivers <paramref name="message"/> to every subscriber of <paramref name="channel"/>; returns how many got it.</summary>
    public long Publish(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> message)
    {
        long receivers = 0;
        if (_channels.TryGetValue(channel.ToArray(), out HashSet<RespSession>? subscribers))
        {
            byte[] push = Encode(["message"u8.ToArray(), channel.ToArray(), message.ToArray()]);
            foreach (RespSession s in subscribers)
            {
                s.Push(push);
                receivers++;
            }
        }
        foreach ((byte[] pattern, HashSet<RespSession> patternSubscribers) in _patterns)
        {
            if (!Glob.IsMatch(pattern, channel))
            {
                continue;
            }
            byte[] push = Encode(["pmessage"u8.ToArray(), pattern, channel.ToArray(), message.ToArray()]);
            foreach (RespSession s in patternSubscribers)
            {
                s.Push(push);
                receivers++;
            }
        }
        return receivers;
    }

    private static byte[] Encode(byte[][] parts)
    {
        var text = new MemoryStream();
        text.Write(Encoding.ASCII.GetBytes($"*{parts.Length}\r\n"));
        foreach (byte[] part in parts)
        {
            text.Write(Encoding.ASCII.GetBytes($"${part.Length}\r\n"));
            text.Write(part);
            text.Write("\r\n"u8);
        }
        return text.ToArray();
    }
}
