using StackExchange.Redis;

namespace Kevents.RespServer.Tests;

/// <summary>
/// StackExchange.Redis, a client nobody here wrote, against the server: the handshake, strings, counters, expiry,
/// conditional writes, batches, fire-and-forget, concurrency, admin commands and a reconnect after a restart.
/// </summary>
public sealed class StackExchangeRedisTests : RespServerTest
{
    public StackExchangeRedisTests() => StartServer();

    private ConfigurationOptions Configuration(bool abortOnConnectFail = true) => new()
    {
        EndPoints = { { "127.0.0.1", EndPoint.Port } },
        ConnectTimeout = 10_000,
        SyncTimeout = 10_000,
        AsyncTimeout = 10_000,
        AbortOnConnectFail = abortOnConnectFail,
        AllowAdmin = true,
    };

    private async Task<ConnectionMultiplexer> ConnectAsync(TextWriter? log = null) =>
        await ConnectionMultiplexer.ConnectAsync(Configuration(), log).WaitAsync(Limit);

    private Task<long> ErrorReplies() => OnLoop(() => Server.Writer.ErrorReplies);

    [Fact]
    public async Task ConnectsCleanlyAndRoundTripsStrings()
    {
        var log = new StringWriter();
        await using ConnectionMultiplexer redis = await ConnectAsync(log);
        // The handshake (HELLO, CLIENT SETNAME/SETINFO/ID, CONFIG GET, INFO, ECHO, GET tie-break, probes for Sentinel and
        // cluster, which a standalone Redis refuses as this server does) ends connected, with nothing the client calls an error.
        Assert.Contains("Standalone v7.2.4, primary", log.ToString());
        Assert.Contains("Returned with success as Standalone primary", log.ToString());
        Assert.DoesNotContain("rror", log.ToString());
        Assert.DoesNotContain("fail", log.ToString(), StringComparison.OrdinalIgnoreCase);
        long handshakeErrors = await ErrorReplies();
        IDatabase db = redis.GetDatabase();
        Assert.True(await db.StringSetAsync("greeting", "hello"));
        Assert.Equal("hello", (string?)await db.StringGetAsync("greeting"));
        Assert.True((await db.StringGetAsync("missing")).IsNull);
        Assert.Equal(5, await db.StringLengthAsync("greeting"));
        Assert.Equal(11, await db.StringAppendAsync("greeting", " world"));
        Assert.Equal("hello world", (string?)await db.StringGetSetAsync("greeting", "bye"));
        Assert.Equal("bye", (string?)await db.StringGetAsync("greeting"));
        Assert.True(await db.KeyExistsAsync("greeting"));
        Assert.Equal(RedisType.String, await db.KeyTypeAsync("greeting"));
        Assert.True(await db.KeyDeleteAsync("greeting"));
        Assert.False(await db.KeyExistsAsync("greeting"));
        Assert.Equal(RedisType.None, await db.KeyTypeAsync("greeting"));

        byte[] binary = Enumerable.Range(0, 256).Select(i => (byte)i).Concat(new byte[100_000]).ToArray();
        await db.StringSetAsync("binary", binary);
        Assert.Equal(binary, (byte[]?)await db.StringGetAsync("binary"));

        await db.StringSetAsync([new("m1", "a"), new("m2", "b")]);
        RedisValue[] values = await db.StringGetAsync(["m1", "nope", "m2"]);
        Assert.Equal(new[] { "a", null, "b" }, values.Select(v => (string?)v));
        Assert.Equal(2, await db.KeyDeleteAsync(["m1", "m2", "nope"]));
        Assert.Equal("pong", (string?)await db.ExecuteAsync("ECHO", "pong"));
        Assert.True(await db.PingAsync() < Limit);
        Assert.Equal(handshakeErrors, await ErrorReplies());
        Assert.Equal(0, await OnLoop(() => Server.ProtocolErrors));
    }

    [Fact]
    public async Task CountersCountAndRefuseWhatIsNotAnInteger()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        IDatabase db = redis.GetDatabase();
        Assert.Equal(1, await db.StringIncrementAsync("n"));
        Assert.Equal(6, await db.StringIncrementAsync("n", 5));
        Assert.Equal(5, await db.StringDecrementAsync("n"));
        Assert.Equal(-5, await db.StringDecrementAsync("n", 10));
        Assert.Equal("-5", (string?)await db.StringGetAsync("n"));
        await db.StringSetAsync("n", long.MaxValue);
        var overflow = await Assert.ThrowsAsync<RedisServerException>(() => db.StringIncrementAsync("n"));
        Assert.Equal("ERR increment or decrement would overflow", overflow.Message);
        await db.StringSetAsync("text", "abc");
        var notInteger = await Assert.ThrowsAsync<RedisServerException>(() => db.StringIncrementAsync("text"));
        Assert.Equal("ERR value is not an integer or out of range", notInteger.Message);
    }

    [Fact]
    public async Task KeysExpireLazilyAndActively()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        IDatabase db = redis.GetDatabase();
        // A second, so that a busy CI machine delaying the next command cannot let the key expire before its TTL is read.
        await db.StringSetAsync("short", "v", TimeSpan.FromSeconds(1));
        TimeSpan? ttl = await db.KeyTimeToLiveAsync("short");
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(1));
        await db.StringSetAsync("long", "v");
        Assert.Null(await db.KeyTimeToLiveAsync("long"));
        Assert.True(await db.KeyExpireAsync("long", TimeSpan.FromSeconds(100)));
        Assert.InRange((await db.KeyTimeToLiveAsync("long"))!.Value, TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(100));
        Assert.True(await db.KeyPersistAsync("long"));
        Assert.Null(await db.KeyTimeToLiveAsync("long"));
        Assert.False(await db.KeyExpireAsync("absent", TimeSpan.FromSeconds(1)));

        // Lazy: a read after the deadline finds nothing.
        await Task.Delay(1100);
        Assert.True((await db.StringGetAsync("short")).IsNull);

        // Active: keys nobody touches again are removed by the loop's expiry timer. (A second to live, so that all 200
        // are still there when DBSIZE is answered however slowly the client sends them.)
        for (int i = 0; i < 200; i++)
        {
            db.StringSet($"volatile:{i}", "v", TimeSpan.FromSeconds(1), flags: CommandFlags.FireAndForget);
        }
        Assert.Equal(201, await db.ExecuteAsync("DBSIZE").ContinueWith(t => (long)t.Result));
        await WaitUntilAsync(() => Server.Keys.Count == 1, "active expiry removed the 200 volatile keys");
        Assert.True(await OnLoop(() => Server.Keys.ExpiredKeys) >= 200);
    }

    [Fact]
    public async Task ConditionalWritesNeedNoTransaction()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        IDatabase db = redis.GetDatabase();
        Assert.True(await db.StringSetAsync("lock", "me", when: When.NotExists));
        Assert.False(await db.StringSetAsync("lock", "you", when: When.NotExists));
        Assert.True(await db.StringSetAsync("lock", "us", when: When.Exists));
        Assert.False(await db.StringSetAsync("nolock", "x", when: When.Exists));
        Assert.Equal("us", (string?)await db.StringSetAndGetAsync("lock", "them"));
        Assert.Equal("them", (string?)await db.StringGetDeleteAsync("lock"));
        Assert.False(await db.KeyExistsAsync("lock"));
        Assert.True(await db.StringSetAsync([new("a", "1"), new("b", "2")], When.NotExists));
        Assert.False(await db.StringSetAsync([new("b", "3"), new("c", "3")], When.NotExists));
        Assert.False(await db.KeyExistsAsync("c"));
    }

    [Fact]
    public async Task BatchesAndFireAndForgetArriveInOrder()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        IDatabase db = redis.GetDatabase();
        IBatch batch = db.CreateBatch();
        var sets = Enumerable.Range(0, 300).Select(i => batch.StringSetAsync($"b:{i}", i)).ToArray();
        var gets = Enumerable.Range(0, 300).Select(i => batch.StringGetAsync($"b:{i}")).ToArray();
        batch.Execute();
        Assert.All(await Task.WhenAll(sets), Assert.True);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (RedisValue)i), await Task.WhenAll(gets));

        for (int i = 0; i < 500; i++)
        {
            db.StringIncrement("ff", flags: CommandFlags.FireAndForget);
        }
        Assert.Equal(500, (long)await db.StringGetAsync("ff"));
    }

    [Fact]
    public async Task ConcurrentClientsLoseNoIncrement()
    {
        var clients = new ConnectionMultiplexer[4];
        for (int i = 0; i < clients.Length; i++)
        {
            clients[i] = await ConnectAsync();
        }
        try
        {
            await Task.WhenAll(clients.SelectMany(c => Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                IDatabase db = c.GetDatabase();
                for (int i = 0; i < 250; i++)
                {
                    await db.StringIncrementAsync("shared");
                    await db.StringSetAsync($"own:{Environment.CurrentManagedThreadId}:{i}", i);
                }
            }))));
            Assert.Equal(4 * 4 * 250, (long)await clients[0].GetDatabase().StringGetAsync("shared"));
            // Each multiplexer holds two connections: interactive and subscription.
            Assert.Equal(8, await OnLoop(() => Server.ClientCount));
        }
        finally
        {
            foreach (ConnectionMultiplexer client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AdminCommandsAnswer()
    {
        await using ConnectionMultiplexer redis = await ConnectAsync();
        IServer server = redis.GetServer(EndPoint);
        IDatabase db = redis.GetDatabase();
        for (int i = 0; i < 250; i++)
        {
            db.StringSet($"k:{i}", i, flags: CommandFlags.FireAndForget);
        }
        db.StringSet("other", 1);
        Assert.Equal(251, await server.DatabaseSizeAsync());
        // IServer.Keys pages with SCAN MATCH COUNT: every key once.
        string[] keys = server.Keys(pattern: "k:*", pageSize: 17).Select(k => (string)k!).ToArray();
        Assert.Equal(250, keys.Length);
        Assert.Equal(250, keys.Distinct().Count());
        IGrouping<string, KeyValuePair<string, string>>[] info = await server.InfoAsync();
        Assert.Contains(info, g => g.Key == "Keyspace" && g.Any(p => p.Key == "db0" && p.Value.StartsWith("keys=251", StringComparison.Ordinal)));
        Assert.Contains(info, g => g.Key == "Kevents" && g.Any(p => p.Key == "kevents_loop_iterations"));
        KeyValuePair<string, string>[] config = await server.ConfigGetAsync("max*");
        Assert.Contains(config, p => p.Key == "maxclients" && p.Value == "10000");
        ClientInfo[] list = await server.ClientListAsync();
        Assert.Contains(list, c => c.Name?.StartsWith("vm(SE.Redis", StringComparison.Ordinal) == true || c.Name is not null);
        long errors = await ErrorReplies();
        await server.FlushDatabaseAsync();
        Assert.Equal(0, await server.DatabaseSizeAsync());
        Assert.Equal(errors, await ErrorReplies());
    }

    [Fact]
    public async Task PublishedMessagesReachChannelAndPatternSubscribers()
    {
        await using ConnectionMultiplexer subscriberClient = await ConnectAsync();
        await using ConnectionMultiplexer publisherClient = await ConnectAsync();
        ISubscriber subscriber = subscriberClient.GetSubscriber();
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnMessage(RedisChannel channel, RedisValue message)
        {
            received.Enqueue($"{channel}={message}");
            if (received.Count == 3)
            {
                all.TrySetResult();
            }
        }
        await subscriber.SubscribeAsync(RedisChannel.Literal("news"), OnMessage);
        await subscriber.SubscribeAsync(RedisChannel.Pattern("weather.*"), OnMessage);
        ISubscriber publisher = publisherClient.GetSubscriber();
        Assert.Equal(1, await publisher.PublishAsync(RedisChannel.Literal("news"), "one"));
        Assert.Equal(1, await publisher.PublishAsync(RedisChannel.Literal("weather.oslo"), "rain"));
        Assert.Equal(0, await publisher.PublishAsync(RedisChannel.Literal("sports"), "none"));
        Assert.Equal(1, await publisher.PublishAsync(RedisChannel.Literal("news"), "two"));
        await all.Task.WaitAsync(Limit);
        Assert.Equal(new[] { "news=one", "news=two", "weather.oslo=rain" }, received.Order(StringComparer.Ordinal).ToArray());
        await subscriber.UnsubscribeAsync(RedisChannel.Literal("news"));
        Assert.Equal(0, await publisher.PublishAsync(RedisChannel.Literal("news"), "three"));
    }

    [Fact]
    public async Task ReconnectsAfterTheServerRestarts()
    {
        int port = EndPoint.Port;
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(Configuration(abortOnConnectFail: false)).WaitAsync(Limit);
        IDatabase db = redis.GetDatabase();
        await db.StringSetAsync("before", "1");

        StopServer();
        await WaitForAsync(() => !redis.IsConnected, "the client saw the server go");
        StartServer(port: port);

        // The client reconnects by itself; the new server starts empty (keys live in memory).
        await WaitForAsync(() => redis.IsConnected, "the client reconnected");
        DateTime deadline = DateTime.UtcNow + Limit;
        while (true)
        {
            try
            {
                await db.StringSetAsync("after", "2");
                break;
            }
            catch (RedisConnectionException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }
        Assert.Equal("2", (string?)await db.StringGetAsync("after"));
        Assert.True((await db.StringGetAsync("before")).IsNull);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}.");
            await Task.Delay(20);
        }
    }
}
