using System.Globalization;
using System.Text;

namespace RespServer;

// Connection and server commands: enough of them for redis-cli, redis-benchmark and StackExchange.Redis to connect
// and look around without errors.
internal static partial class Commands
{
    private static void Ping(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (args.Count > 2)
        {
            WrongArity(server.Writer, "ping");
        }
        else if (session.SubscriptionCount > 0)
        {
            // In subscribed mode RESP2 answers PING as a push: ["pong", message or ""].
            server.Writer.ArrayHeader(2);
            server.Writer.Bulk("pong"u8);
            server.Writer.Bulk(args.Count == 2 ? args[1] : default);
        }
        else if (args.Count == 2)
        {
            server.Writer.Bulk(args[1]);
        }
        else
        {
            server.Writer.Raw("+PONG\r\n"u8);
        }
    }

    private static void Echo(KeyValueServer server, RespSession session, RespArgs args) => server.Writer.Bulk(args[1]);

    private static void Quit(KeyValueServer server, RespSession session, RespArgs args)
    {
        server.Writer.Ok();
        session.CloseRequested = true;
    }

    private static void Select(KeyValueServer server, RespSession session, RespArgs args)
    {
        if (!RespNumber.TryParseInt64(args[1], out long index))
        {
            NotInteger(server.Writer);
        }
        else if (index != 0)
        {
            server.Writer.Error("ERR DB index is out of range");
        }
        else
        {
            server.Writer.Ok();
        }
    }

    private static void Hello(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        string? name = null;
        if (args.Count >= 2)
        {
            if (!RespNumber.TryParseInt64(args[1], out long version))
            {
                w.Error("ERR Protocol version is not an integer or out of range");
                return;
            }
            if (version != 2)
            {
                // RESP3 is not spoken here; clients fall back to RESP2 on this reply.
                w.Error("NOPROTO unsupported protocol version");
                return;
            }
            for (int i = 2; i < args.Count; i++)
            {
                if (Is(args[i], "AUTH"u8) && i + 2 < args.Count)
                {
                    // No passwords are configured: the default user takes any, as Redis' nopass user does.
                    i += 2;
                }
                else if (Is(args[i], "SETNAME"u8) && i + 1 < args.Count)
                {
                    if (!ValidClientName(args[i + 1]))
                    {
                        w.Error("ERR Client names cannot contain spaces, newlines or special characters.");
                        return;
                    }
                    name = Text(args[++i]);
                }
                else
                {
                    w.Error($"ERR Syntax error in HELLO option '{Text(args[i])}'");
                    return;
                }
            }
        }
        if (name is not null)
        {
            session.Name = name.Length == 0 ? null : name;
        }
        w.ArrayHeader(14);
        w.Bulk("server"u8);
        w.Bulk("redis"u8);
        w.Bulk("version"u8);
        w.Bulk(ReportedVersion);
        w.Bulk("proto"u8);
        w.Integer(2);
        w.Bulk("id"u8);
        w.Integer(session.Id);
        w.Bulk("mode"u8);
        w.Bulk("standalone"u8);
        w.Bulk("role"u8);
        w.Bulk("master"u8);
        w.Bulk("modules"u8);
        w.ArrayHeader(0);
    }

    private static bool ValidClientName(ReadOnlySpan<byte> name)
    {
        foreach (byte c in name)
        {
            if (c < '!' || c > '~')
            {
                return false;
            }
        }
        return true;
    }

    private static void Client(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        ReadOnlySpan<byte> sub = args[1];
        if (Is(sub, "SETNAME"u8))
        {
            if (args.Count != 3)
            {
                WrongArity(w, "client|setname");
            }
            else if (!ValidClientName(args[2]))
            {
                w.Error("ERR Client names cannot contain spaces, newlines or special characters.");
            }
            else
            {
                session.Name = args[2].IsEmpty ? null : Text(args[2]);
                w.Ok();
            }
        }
        else if (Is(sub, "GETNAME"u8))
        {
            if (args.Count != 2)
            {
                WrongArity(w, "client|getname");
            }
            else if (session.Name is null)
            {
                w.NullBulk();
            }
            else
            {
                w.Bulk(session.Name);
            }
        }
        else if (Is(sub, "ID"u8))
        {
            if (args.Count != 2)
            {
                WrongArity(w, "client|id");
            }
            else
            {
                w.Integer(session.Id);
            }
        }
        else if (Is(sub, "LIST"u8))
        {
            if (args.Count > 2 && !(args.Count == 4 && Is(args[2], "TYPE"u8) && Is(args[3], "NORMAL"u8)))
            {
                SyntaxError(w);
                return;
            }
            var text = new StringBuilder();
            foreach (RespSession s in server.Sessions().Reverse())
            {
                text.Append(ClientLine(server, s)).Append('\n');
            }
            w.Bulk(text.ToString());
        }
        else if (Is(sub, "INFO"u8))
        {
            if (args.Count != 2)
            {
                WrongArity(w, "client|info");
            }
            else
            {
                w.Bulk(ClientLine(server, session) + "\n");
            }
        }
        else if (Is(sub, "SETINFO"u8))
        {
            if (args.Count != 4)
            {
                WrongArity(w, "client|setinfo");
            }
            else if (Is(args[2], "LIB-NAME"u8) || Is(args[2], "LIB-VER"u8))
            {
                w.Ok();
            }
            else
            {
                w.Error($"ERR Unrecognized option '{Text(args[2])}'");
            }
        }
        else if (Is(sub, "NO-EVICT"u8) || Is(sub, "NO-TOUCH"u8))
        {
            w.Ok();
        }
        else if (Is(sub, "HELP"u8))
        {
            Help(w, "CLIENT", ["GETNAME", "ID", "INFO", "LIST [TYPE NORMAL]", "SETINFO <LIB-NAME|LIB-VER> <value>", "SETNAME <name>"]);
        }
        else
        {
            UnknownSubcommand(w, sub, "CLIENT");
        }
    }

    private static string ClientLine(KeyValueServer server, RespSession s)
    {
        long now = server.Keys.NowMs;
        string addr = s.Connection?.RemoteEndPoint?.ToString() ?? "memory";
        string laddr = s.Connection?.LocalEndPoint?.ToString() ?? "memory";
        return string.Create(CultureInfo.InvariantCulture,
            $"id={s.Id} addr={addr} laddr={laddr} fd={s.Connection?.Descriptor ?? -1} name={s.Name} age={(now - s.CreatedMs) / 1000} " +
            $"idle={(now - s.LastCommandMs) / 1000} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf={s.QueryBufferLength} qbuf-free=0 " +
            $"argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={s.Connection?.QueuedOutput ?? 0} tot-mem=0 events=r " +
            $"cmd={s.LastCommand} user=default redir=-1 resp=2");
    }

    private static void UnknownSubcommand(ReplyWriter w, ReadOnlySpan<byte> sub, string command)
    {
        w.ErrorStart();
        w.ErrorPart("ERR unknown subcommand '"u8);
        w.ErrorPart(sub, 128);
        w.ErrorPart(Encoding.ASCII.GetBytes($"'. Try {command} HELP."));
        w.ErrorEnd();
    }

    private static void Help(ReplyWriter w, string command, string[] lines)
    {
        w.ArrayHeader(lines.Length + 1);
        w.Raw(Encoding.ASCII.GetBytes($"+{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n"));
        foreach (string line in lines)
        {
            w.Simple(Encoding.ASCII.GetBytes(line));
        }
    }

    private static void Info(KeyValueServer server, RespSession session, RespArgs args)
    {
        var sections = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 1; i < args.Count; i++)
        {
            sections.Add(Text(args[i]).ToLowerInvariant());
        }
        server.Writer.Bulk(server.Info(sections));
    }

    private static void Config(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        ReadOnlySpan<byte> sub = args[1];
        if (Is(sub, "GET"u8))
        {
            if (args.Count < 3)
            {
                WrongArity(w, "config|get");
                return;
            }
            var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach ((string name, string value) in ConfigValues(server))
            {
                byte[] nameBytes = Encoding.ASCII.GetBytes(name);
                for (int i = 2; i < args.Count; i++)
                {
                    if (Glob.IsMatch(args[i], nameBytes, ignoreCase: true))
                    {
                        pairs[name] = value;
                    }
                }
            }
            w.ArrayHeader(pairs.Count * 2);
            foreach ((string name, string value) in pairs)
            {
                w.Bulk(name);
                w.Bulk(value);
            }
        }
        else if (Is(sub, "SET"u8))
        {
            w.Error($"ERR Unknown option or number of arguments for CONFIG SET - '{(args.Count > 2 ? Text(args[2]) : "")}'");
        }
        else if (Is(sub, "RESETSTAT"u8))
        {
            w.Ok();
        }
        else if (Is(sub, "REWRITE"u8))
        {
            w.Error("ERR The server is running without a config file");
        }
        else if (Is(sub, "HELP"u8))
        {
            Help(w, "CONFIG", ["GET <pattern>", "RESETSTAT", "REWRITE", "SET <directive> <value>"]);
        }
        else
        {
            UnknownSubcommand(w, sub, "CONFIG");
        }
    }

    private static IEnumerable<(string Name, string Value)> ConfigValues(KeyValueServer server)
    {
        RespServerOptions o = server.Options;
        string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
        yield return ("appendonly", "no");
        yield return ("bind", server.LocalEndPoint?.Address.ToString() ?? "");
        yield return ("client-query-buffer-limit", Number(o.MaxQueryBuffer));
        yield return ("cluster-enabled", "no");
        yield return ("databases", "1");
        yield return ("hz", Number((long)Math.Round(1000 / o.ActiveExpiryInterval.TotalMilliseconds)));
        yield return ("maxclients", Number(o.MaxClients));
        yield return ("maxmemory", "0");
        yield return ("maxmemory-policy", "noeviction");
        yield return ("port", Number(server.LocalEndPoint?.Port ?? 0));
        yield return ("proto-max-bulk-len", Number(o.Limits.MaxBulkLength));
        yield return ("replica-read-only", "yes");
        yield return ("save", "");
        yield return ("slave-read-only", "yes");
        yield return ("timeout", Number(o.IdleTimeout == Timeout.InfiniteTimeSpan ? 0 : (long)o.IdleTimeout.TotalSeconds));
    }

    private static void Command(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        if (args.Count == 1)
        {
            CommandSpec[] all = All.ToArray();
            w.ArrayHeader(all.Length);
            foreach (CommandSpec spec in all)
            {
                WriteCommandInfo(w, spec);
            }
            return;
        }
        ReadOnlySpan<byte> sub = args[1];
        if (Is(sub, "COUNT"u8))
        {
            w.Integer(All.Count());
        }
        else if (Is(sub, "LIST"u8))
        {
            CommandSpec[] all = All.ToArray();
            w.ArrayHeader(all.Length);
            foreach (CommandSpec spec in all)
            {
                w.Bulk(spec.Name);
            }
        }
        else if (Is(sub, "INFO"u8))
        {
            CommandSpec?[] specs = Named(args, All);
            w.ArrayHeader(specs.Length);
            foreach (CommandSpec? spec in specs)
            {
                if (spec is null)
                {
                    w.NullArray();
                }
                else
                {
                    WriteCommandInfo(w, spec);
                }
            }
        }
        else if (Is(sub, "DOCS"u8))
        {
            // A map of name to its docs, which RESP2 sends as a flat array; unknown names are left out.
            CommandSpec[] specs = Named(args, All).OfType<CommandSpec>().ToArray();
            w.ArrayHeader(specs.Length * 2);
            foreach (CommandSpec spec in specs)
            {
                w.Bulk(spec.Name);
                w.ArrayHeader(8);
                w.Bulk("summary"u8);
                w.Bulk(spec.Summary);
                w.Bulk("since"u8);
                w.Bulk("1.0.0"u8);
                w.Bulk("group"u8);
                w.Bulk(spec.Group);
                w.Bulk("arguments"u8);
                w.ArrayHeader(0);
            }
        }
        else if (Is(sub, "HELP"u8))
        {
            Help(w, "COMMAND", ["(no subcommand)", "COUNT", "DOCS [<command-name> ...]", "INFO [<command-name> ...]", "LIST"]);
        }
        else
        {
            UnknownSubcommand(w, sub, "COMMAND");
        }
    }

    /// <summary>The commands named from argument 2 on, null for unknown names; all of them when none is named.</summary>
    private static CommandSpec?[] Named(RespArgs args, IEnumerable<CommandSpec> all)
    {
        if (args.Count == 2)
        {
            return all.ToArray();
        }
        var specs = new CommandSpec?[args.Count - 2];
        for (int i = 2; i < args.Count; i++)
        {
            specs[i - 2] = Find(args[i]);
        }
        return specs;
    }

    private static void WriteCommandInfo(ReplyWriter w, CommandSpec spec)
    {
        // Redis 7's ten fields: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands.
        w.ArrayHeader(10);
        w.Bulk(spec.Name);
        w.Integer(spec.Arity);
        w.ArrayHeader(spec.Flags.Length);
        foreach (string flag in spec.Flags)
        {
            w.Simple(Encoding.ASCII.GetBytes(flag));
        }
        w.Integer(spec.FirstKey);
        w.Integer(spec.LastKey);
        w.Integer(spec.Step);
        w.ArrayHeader(1);
        w.Simple(Encoding.ASCII.GetBytes("@" + spec.Group));
        w.ArrayHeader(0);
        w.ArrayHeader(0);
        w.ArrayHeader(0);
    }

    private static void Role(KeyValueServer server, RespSession session, RespArgs args)
    {
        ReplyWriter w = server.Writer;
        w.ArrayHeader(3);
        w.Bulk("master"u8);
        w.Integer(0);
        w.ArrayHeader(0);
    }

    // Clients probe for a cluster (StackExchange.Redis sends CLUSTER NODES and SLOTS); this is Redis' answer when
    // cluster mode is off.
    private static void Cluster(KeyValueServer server, RespSession session, RespArgs args) =>
        server.Writer.Error("ERR This instance has cluster support disabled");

    private static void Time(KeyValueServer server, RespSession session, RespArgs args)
    {
        long micros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        server.Writer.ArrayHeader(2);
        server.Writer.BulkInteger(micros / 1_000_000);
        server.Writer.BulkInteger(micros % 1_000_000);
    }
}
