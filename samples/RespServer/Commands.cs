using System.Buffers.Text;
using System.Text;

namespace RespServer;

/// <summary>Runs one command. <paramref name="args"/> includes the name; its arity was checked.</summary>
internal delegate void CommandHandler(KeyValueServer server, RespSession session, RespArgs args);

/// <summary>
/// A command's table row: what COMMAND reports (arity as Redis counts it, negative for "at least"; flags; key
/// positions; ACL categories) and the code that runs it.
/// </summary>
internal sealed record CommandSpec(string Name, int Arity, string[] Flags, int FirstKey, int LastKey, int Step, string Group, string Summary, CommandHandler Handler);

/// <summary>
/// The command table and the dispatch: the name is upper-cased on the stack and looked up by span, so dispatching
/// allocates nothing. Errors are worded as Redis words them.
/// </summary>
internal static partial class Commands
{
    /// <summary>The Redis version INFO and HELLO report: clients pick their command set by it (UNLINK, SET GET, ...).</summary>
    public const string ReportedVersion = "7.2.4";

    private static readonly Dictionary<byte[], CommandSpec> s_table = Build();
    private static readonly Dictionary<byte[], CommandSpec>.AlternateLookup<ReadOnlySpan<byte>> s_lookup = s_table.GetAlternateLookup<ReadOnlySpan<byte>>();

    public static IEnumerable<CommandSpec> All => s_table.Values;

    public static void Execute(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReadOnlySpan<byte> name = args[0];
        CommandSpec? spec = Find(name);
        ReplyWriter w = server.Writer;
        if (spec is null)
        {
            UnknownCommand(w, args);
            return;
        }
        if ((spec.Arity > 0 && args.Count != spec.Arity) || args.Count < -spec.Arity)
        {
            WrongArity(w, spec.Name);
            return;
        }
        if (session.SubscriptionCount > 0 && !AllowedWhileSubscribed(spec))
        {
            NotWhileSubscribed(w, spec);
            return;
        }
        session.LastCommand = spec.Name;
        spec.Handler(server, session, args);
    }

    // The commands a benchmark or a cache client sends most, found by length and bytes before the table: hashing
    // the name and probing the dictionary was a quarter of the server's own CPU time on pipelined GET/SET.
    private static readonly CommandSpec s_get = Table("GET");
    private static readonly CommandSpec s_set = Table("SET");
    private static readonly CommandSpec s_del = Table("DEL");
    private static readonly CommandSpec s_ping = Table("PING");
    private static readonly CommandSpec s_incr = Table("INCR");
    private static readonly CommandSpec s_mget = Table("MGET");
    private static readonly CommandSpec s_mset = Table("MSET");

    private static CommandSpec Table(string name) => s_table[Encoding.ASCII.GetBytes(name)];

    public static CommandSpec? Find(ReadOnlySpan<byte> name)
    {
        // Clearing bit 0x20 of each byte upper-cases a letter; a byte matches an upper-case letter that way only if it
        // is that letter in either case, so the comparisons below are exact, case-insensitive matches.
        if (name.Length == 3)
        {
            uint word = (name[0] | ((uint)name[1] << 8) | ((uint)name[2] << 16)) & 0xDFDFDF;
            switch (word)
            {
                case 'G' | ('E' << 8) | ('T' << 16):
                    return s_get;
                case 'S' | ('E' << 8) | ('T' << 16):
                    return s_set;
                case 'D' | ('E' << 8) | ('L' << 16):
                    return s_del;
            }
        }
        else if (name.Length == 4)
        {
            uint word = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(name) & 0xDFDFDFDF;
            switch (word)
            {
                case 'P' | ('I' << 8) | ('N' << 16) | ((uint)'G' << 24):
                    return s_ping;
                case 'I' | ('N' << 8) | ('C' << 16) | ((uint)'R' << 24):
                    return s_incr;
                case 'M' | ('G' << 8) | ('E' << 16) | ((uint)'T' << 24):
                    return s_mget;
                case 'M' | ('S' << 8) | ('E' << 16) | ((uint)'T' << 24):
                    return s_mset;
            }
        }
        return FindInTable(name);
    }

    private static CommandSpec? FindInTable(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > 32)
        {
            return null;
        }
        Span<byte> upper = stackalloc byte[name.Length];
        if (Ascii.ToUpper(name, upper, out int written) != System.Buffers.OperationStatus.Done || written != name.Length)
        {
            return null;
        }
        return s_lookup.TryGetValue(upper, out CommandSpec? spec) ? spec : null;
    }

    // "ERR unknown command 'foo', with args beginning with: 'a' 'b' ": the name up to 128 bytes, arguments until
    // 128 bytes of them are shown, each cut to what is left of those 128.
    private static void UnknownCommand(ReplyWriter w, RespArgs args)
    {
        w.ErrorStart();
        w.ErrorPart("ERR unknown command '"u8);
        w.ErrorPart(args[0], 128);
        w.ErrorPart("', with args beginning with: "u8);
        int shown = 0;
        for (int i = 1; i < args.Count && shown < 128; i++)
        {
            ReadOnlySpan<byte> arg = args[i];
            int take = Math.Min(arg.Length, 128 - shown);
            w.ErrorPart("'"u8);
            w.ErrorPart(arg[..take]);
            w.ErrorPart("' "u8);
            shown += take + 3;
        }
        w.ErrorEnd();
    }

    internal static void WrongArity(ReplyWriter w, string name) => w.Error($"ERR wrong number of arguments for '{name}' command");

    private static void NotInteger(ReplyWriter w) => w.Error("ERR value is not an integer or out of range");

    private static void SyntaxError(ReplyWriter w) => w.Error("ERR syntax error");

    private static bool Is(ReadOnlySpan<byte> arg, ReadOnlySpan<byte> upperName) => Ascii.EqualsIgnoreCase(arg, upperName);

    private static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    private static Dictionary<byte[], CommandSpec> Build()
    {
        var table = new Dictionary<byte[], CommandSpec>(ByteKeyComparer.Instance);
        void Add(string name, int arity, string flags, int first, int last, int step, string group, string summary, CommandHandler handler) =>
            table.Add(Encoding.ASCII.GetBytes(name.ToUpperInvariant()),
                new CommandSpec(name, arity, flags.Split(' ', StringSplitOptions.RemoveEmptyEntries), first, last, step, group, summary, handler));

        const string Read = "readonly fast";
        const string Write = "write denyoom";
        const string WriteFast = "write denyoom fast";
        const string Del = "write";
        Add("ping", -1, "fast stale", 0, 0, 0, "connection", "Returns the server's liveliness response.", Ping);
        Add("echo", 2, "fast stale", 0, 0, 0, "connection", "Returns the given string.", Echo);
        Add("quit", -1, "fast stale noscript", 0, 0, 0, "connection", "Closes the connection.", Quit);
        Add("select", 2, "fast stale loading", 0, 0, 0, "connection", "Changes the selected database (only 0 exists).", Select);
        Add("hello", -1, "fast stale noscript", 0, 0, 0, "connection", "Handshakes with the server (RESP2 only).", Hello);
        Add("client", -2, "stale", 0, 0, 0, "connection", "A container for client connection commands.", Client);
        Add("get", 2, Read, 1, 1, 1, "string", "Returns the string value of a key.", Get);
        Add("set", -3, Write, 1, 1, 1, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", Set);
        Add("setnx", 3, WriteFast, 1, 1, 1, "string", "Set the string value of a key only when the key doesn't exist.", SetNx);
        Add("setex", 4, Write, 1, 1, 1, "string", "Sets the string value and expiration time of a key.", SetEx);
        Add("psetex", 4, Write, 1, 1, 1, "string", "Sets both string value and expiration time in milliseconds of a key.", PSetEx);
        Add("getset", 3, WriteFast, 1, 1, 1, "string", "Returns the previous string value of a key after setting it to a new value.", GetSet);
        Add("getdel", 2, "write fast", 1, 1, 1, "string", "Returns the string value of a key after deleting the key.", GetDel);
        Add("del", -2, Del, 1, -1, 1, "keyspace", "Deletes one or more keys.", Delete);
        Add("unlink", -2, Del + " fast", 1, -1, 1, "keyspace", "Asynchronously deletes one or more keys.", Delete);
        Add("exists", -2, Read, 1, -1, 1, "keyspace", "Determines whether one or more keys exist.", Exists);
        Add("incr", 2, WriteFast, 1, 1, 1, "string", "Increments the integer value of a key by one.", Incr);
        Add("decr", 2, WriteFast, 1, 1, 1, "string", "Decrements the integer value of a key by one.", Decr);
        Add("incrby", 3, WriteFast, 1, 1, 1, "string", "Increments the integer value of a key by a number.", IncrBy);
        Add("decrby", 3, WriteFast, 1, 1, 1, "string", "Decrements a number from the integer value of a key.", DecrBy);
        Add("append", 3, WriteFast, 1, 1, 1, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", Append);
        Add("strlen", 2, Read, 1, 1, 1, "string", "Returns the length of a string value.", StrLen);
        Add("mget", -2, Read, 1, -1, 1, "string", "Atomically returns the string values of one or more keys.", MGet);
        Add("mset", -3, Write, 1, -1, 2, "string", "Atomically creates or modifies the string values of one or more keys.", MSet);
        Add("msetnx", -3, Write, 1, -1, 2, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", MSetNx);
        Add("expire", -3, "write fast", 1, 1, 1, "keyspace", "Sets the expiration time of a key in seconds.", Expire);
        Add("pexpire", -3, "write fast", 1, 1, 1, "keyspace", "Sets the expiration time of a key in milliseconds.", PExpire);
        Add("ttl", 2, Read, 1, 1, 1, "keyspace", "Returns the expiration time in seconds of a key.", Ttl);
        Add("pttl", 2, Read, 1, 1, 1, "keyspace", "Returns the expiration time in milliseconds of a key.", PTtl);
        Add("persist", 2, "write fast", 1, 1, 1, "keyspace", "Removes the expiration time of a key.", Persist);
        Add("type", 2, Read, 1, 1, 1, "keyspace", "Determines the type of value stored at a key.", TypeOf);
        Add("dbsize", 1, Read, 0, 0, 0, "server", "Returns the number of keys in the database.", DbSize);
        Add("flushdb", -1, "write", 0, 0, 0, "server", "Removes all keys from the current database.", Flush);
        Add("flushall", -1, "write", 0, 0, 0, "server", "Removes all keys from all databases.", Flush);
        Add("keys", 2, "readonly", 0, 0, 0, "keyspace", "Returns all key names that match a pattern.", Keys);
        Add("scan", -2, "readonly", 0, 0, 0, "keyspace", "Iterates over the key names in the database.", Scan);
        Add("info", -1, "loading stale", 0, 0, 0, "server", "Returns information and statistics about the server.", Info);
        Add("config", -2, "admin noscript loading stale", 0, 0, 0, "server", "A container for server configuration commands.", Config);
        Add("command", -1, "loading stale", 0, 0, 0, "server", "Returns detailed information about all commands.", Command);
        Add("role", 1, "noscript loading stale fast", 0, 0, 0, "server", "Returns the replication role.", Role);
        Add("subscribe", -2, "pubsub noscript loading stale", 0, 0, 0, "pubsub", "Listens for messages published to channels.", Subscribe);
        Add("unsubscribe", -1, "pubsub noscript loading stale", 0, 0, 0, "pubsub", "Stops listening to messages posted to channels.", Unsubscribe);
        Add("psubscribe", -2, "pubsub noscript loading stale", 0, 0, 0, "pubsub", "Listens for messages published to channels that match one or more patterns.", PSubscribe);
        Add("punsubscribe", -1, "pubsub noscript loading stale", 0, 0, 0, "pubsub", "Stops listening to messages published to channels that match one or more patterns.", PUnsubscribe);
        Add("publish", 3, "pubsub loading stale fast", 0, 0, 0, "pubsub", "Posts a message to a channel.", Publish);
        Add("cluster", -2, "stale", 0, 0, 0, "cluster", "A container for Redis Cluster commands (cluster support is disabled).", Cluster);
        Add("time", 1, "loading stale fast", 0, 0, 0, "server", "Returns the server time.", Time);
        return table;
    }
}
