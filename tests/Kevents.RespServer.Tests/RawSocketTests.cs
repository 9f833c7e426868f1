using System.Net.Sockets;
using System.Text;
using Kevents.Tests;
using RespServer;

namespace Kevents.RespServer.Tests;

/// <summary>
/// What no well-behaved client sends, over a plain socket: Redis' protocol-error cases (its tests/unit/protocol.tcl),
/// the size limits, amplification attempts, the client limit, and the error words of ordinary mistakes.
/// </summary>
public sealed class RawSocketTests : RespServerTest
{
    public RawSocketTests() => StartServer(new RespServerOptions { MaxClients = 3, MaxQueryBuffer = 256 * 1024 });

    [Theory]
    [InlineData("*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*20000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*1048577\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*blabla\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*+1\r\n$4\r\nPING\r\n", "-ERR Protocol error: invalid multibulk length\r\n")]
    [InlineData("*1\r\n$-10\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$blabla\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$2000000000\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n")]
    [InlineData("*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n")]
    [InlineData("*2\r\n$4\r\nECHO\r\n\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n")]
    [InlineData("SET \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n")]
    [InlineData("SET 'abc'x 1\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n")]
    [InlineData("PING\r\n*1\r\nfoo\r\nPING\r\n", "+PONG\r\n-ERR Protocol error: expected '$', got 'f'\r\n")]
    public async Task ProtocolErrorsAreAnsweredAsRedisAnswersThemThenClosed(string input, string expected)
    {
        Assert.Equal(expected, await ExchangeUntilCloseAsync(input));
        await WaitUntilAsync(() => Server.ClientCount == 0, "the client was closed");
    }

    [Theory]
    [InlineData('\0', "too big inline request")]
    [InlineData('*', "too big mbulk count string")]
    [InlineData('$', "too big inline request")]
    [InlineData('a', "too big inline request")]
    public async Task EndlessJunkWithoutANewlineIsCutAt64KiB(char first, string error)
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, first + "\0");
        byte[] junk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("junk", 4096)));
        string? reply = null;
        var receive = ReceiveTextToEndAsync(socket);
        // Keep sending, as the protocol.tcl desync test does, until the server answers and closes.
        for (int i = 0; i < 64 && !receive.IsCompleted; i++)
        {
            try
            {
                await socket.SendAsync(junk, SocketFlags.None).WaitAsync(Limit);
            }
            catch (SocketException)
            {
                break;
            }
        }
        (reply, _) = await receive;
        Assert.Equal($"-ERR Protocol error: {error}\r\n", reply);
    }

    [Fact]
    public async Task AnInlineCommandOver64KiBIsRefusedEvenWhenItsNewlineArrivesWithIt()
    {
        string reply = await ExchangeUntilCloseAsync("SET k " + new string('a', 70_000) + "\r\n");
        Assert.Equal("-ERR Protocol error: too big inline request\r\n", reply);
    }

    [Fact]
    public async Task EmptyLinesAndEmptyOrNegativeCountsAreSkippedAsRedisSkipsThem()
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, "\r\n\n   \r\n*0\r\n*-10\r\n*-1\r\nPING\r\n");
        Assert.Equal("+PONG\r\n", await ReceiveAsync(socket, 7));
    }

    [Fact]
    public async Task OthersAreServedWhileOneClientIsCutOff()
    {
        using Socket good = await ConnectAsync();
        using Socket bad = await ConnectAsync();
        await SendAsync(bad, "*1\r\n$-10\r\n");
        Assert.Equal("-ERR Protocol error: invalid bulk length\r\n", (await ReceiveTextToEndAsync(bad)).Text);
        await SendAsync(good, "*1\r\n$4\r\nPING\r\n");
        Assert.Equal("+PONG\r\n", await ReceiveAsync(good, 7));
    }

    [Fact]
    public async Task ADeclaredMillionArgumentsOrHalfGigabyteBulkAllocatesNothingUpFront()
    {
        using Socket many = await ConnectAsync();
        using Socket huge = await ConnectAsync();
        await SendAsync(many, "*1048576\r\n$1\r\na\r\n");
        await SendAsync(huge, "*1\r\n$536870912\r\nabc");
        await WaitUntilAsync(() => Server.Sessions().Sum(s => s.QueryBufferLength) == "*1048576\r\n$1\r\na\r\n".Length + "*1\r\n$536870912\r\nabc".Length,
            "both partial commands are held");
        // What is held is what arrived: the parser keeps at most 1024 argument slots up front, the bulk grows with data.
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await SendAsync(huge, new string('x', 1000));
        await WaitUntilAsync(() => Server.Sessions().Sum(s => s.QueryBufferLength) > 1000, "more bytes are held");
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 1024 * 1024, "a declared 512 MiB was allocated up front");
        // Both clients are still connected and waiting for the rest.
        Assert.Equal(2, await OnLoop(() => Server.ClientCount));
    }

    [Fact]
    public async Task AQueryBufferOverItsLimitClosesTheClientWithoutAReply()
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, "*1\r\n$400000\r\n");
        byte[] chunk = new byte[32 * 1024];
        var receive = ReceiveTextToEndAsync(socket);
        for (int i = 0; i < 12 && !receive.IsCompleted; i++)
        {
            try
            {
                await socket.SendAsync(chunk, SocketFlags.None).WaitAsync(Limit);
            }
            catch (SocketException)
            {
                break;
            }
        }
        Assert.Equal("", (await receive).Text);
        await WaitUntilAsync(() => Server.ClientCount == 0, "the client was closed");
    }

    [Fact]
    public async Task OneClientOverTheLimitIsToldAndClosed()
    {
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                Socket s = await ConnectAsync();
                sockets.Add(s);
                await SendAsync(s, "PING\r\n");
                Assert.Equal("+PONG\r\n", await ReceiveAsync(s, 7));
            }
            for (int i = 0; i < 3; i++)
            {
                using Socket extra = await ConnectAsync();
                Assert.Equal("-ERR max number of clients reached\r\n", (await ReceiveTextToEndAsync(extra)).Text);
            }
            Assert.Equal(3, await OnLoop(() => Server.Server!.TotalRejected));
            sockets[0].Dispose();
            await WaitUntilAsync(() => Server.ClientCount == 2, "a slot is free again");
            using Socket next = await ConnectAsync();
            await SendAsync(next, "PING\r\n");
            Assert.Equal("+PONG\r\n", await ReceiveAsync(next, 7));
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
        await WaitUntilAsync(() => Server.ClientCount == 0 && Server.Server!.ConnectionCount == 0, "every client is gone");
    }

    [Theory]
    [InlineData("FOO a b\r\n", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n")]
    [InlineData("foo\r\n", "-ERR unknown command 'foo', with args beginning with: \r\n")]
    [InlineData("*2\r\n$3\r\nF\nO\r\n$3\r\na\rb\r\n", "-ERR unknown command 'F O', with args beginning with: 'a b' \r\n")]
    [InlineData("GET\r\n", "-ERR wrong number of arguments for 'get' command\r\n")]
    [InlineData("SET k\r\n", "-ERR wrong number of arguments for 'set' command\r\n")]
    [InlineData("MSET a 1 b\r\n", "-ERR wrong number of arguments for 'mset' command\r\n")]
    [InlineData("PING a b\r\n", "-ERR wrong number of arguments for 'ping' command\r\n")]
    [InlineData("CLIENT SETNAME\r\n", "-ERR wrong number of arguments for 'client|setname' command\r\n")]
    [InlineData("CLIENT NOPE\r\n", "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n")]
    [InlineData("SET k v NX XX\r\n", "-ERR syntax error\r\n")]
    [InlineData("SET k v EX\r\n", "-ERR syntax error\r\n")]
    [InlineData("SET k v EX 0\r\n", "-ERR invalid expire time in 'set' command\r\n")]
    [InlineData("SET k v PX -5\r\n", "-ERR invalid expire time in 'set' command\r\n")]
    [InlineData("SET k v EX ten\r\n", "-ERR value is not an integer or out of range\r\n")]
    [InlineData("INCRBY k 1.5\r\n", "-ERR value is not an integer or out of range\r\n")]
    [InlineData("INCRBY k 01\r\n", "-ERR value is not an integer or out of range\r\n")]
    [InlineData("SET k abc\r\nINCR k\r\n", "+OK\r\n-ERR value is not an integer or out of range\r\n")]
    [InlineData("SET k 9223372036854775807\r\nINCR k\r\n", "+OK\r\n-ERR increment or decrement would overflow\r\n")]
    [InlineData("DECRBY k -9223372036854775808\r\n", "-ERR decrement would overflow\r\n")]
    [InlineData("SELECT 1\r\n", "-ERR DB index is out of range\r\n")]
    [InlineData("SELECT x\r\n", "-ERR value is not an integer or out of range\r\n")]
    [InlineData("SCAN abc\r\n", "-ERR invalid cursor\r\n")]
    [InlineData("SCAN 0 COUNT 0\r\n", "-ERR syntax error\r\n")]
    [InlineData("EXPIRE k 10 NX XX\r\n", "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n")]
    [InlineData("HELLO 3\r\n", "-NOPROTO unsupported protocol version\r\n")]
    [InlineData("FLUSHDB NOW\r\n", "-ERR syntax error\r\n")]
    public async Task MistakesGetRedisWords(string input, string expected)
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, input);
        Assert.Equal(expected, await ReceiveAsync(socket, expected.Length));
        await SendAsync(socket, "PING\r\n");
        Assert.Equal("+PONG\r\n", await ReceiveAsync(socket, 7));
    }

    [Fact]
    public async Task PipelinedCommandsAreAnsweredInOrderInBothSyntaxes()
    {
        using Socket socket = await ConnectAsync();
        var request = new StringBuilder();
        var expected = new StringBuilder();
        for (int i = 0; i < 2000; i++)
        {
            string key = $"key:{i}";
            string value = $"value-{i}";
            if (i % 2 == 0)
            {
                request.Append($"*3\r\n$3\r\nSET\r\n${key.Length}\r\n{key}\r\n${value.Length}\r\n{value}\r\n");
                request.Append($"*2\r\n$3\r\nGET\r\n${key.Length}\r\n{key}\r\n");
            }
            else
            {
                request.Append($"SET {key} \"{value}\"\r\nGET {key}\n");
            }
            expected.Append($"+OK\r\n${value.Length}\r\n{value}\r\n");
        }
        await SendAsync(socket, request.ToString());
        Assert.Equal(expected.ToString(), await ReceiveAsync(socket, expected.Length));
    }

    [Fact]
    public async Task InlineQuotingFollowsRedisCli()
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, "SET \"a key\" 'it\\'s \"x\"'\r\nGET \"a key\"\r\nECHO \"tab\\there\\x41\\n\"\r\n");
        string expected = "+OK\r\n$8\r\nit's \"x\"\r\n$10\r\ntab\there" + "A\n\r\n";
        Assert.Equal(expected, await ReceiveAsync(socket, expected.Length));
    }

    [Fact]
    public async Task ASubscribedClientMayOnlySubscribePingAndQuit()
    {
        using Socket subscriber = await ConnectAsync();
        await SendAsync(subscriber, "SUBSCRIBE a b\r\nGET k\r\nPING\r\n");
        string expected = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" +
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n" +
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
        Assert.Equal(expected, await ReceiveAsync(subscriber, expected.Length));
        using Socket publisher = await ConnectAsync();
        await SendAsync(publisher, "PUBLISH b hi\r\n");
        Assert.Equal(":1\r\n", await ReceiveAsync(publisher, 4));
        string message = "*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nhi\r\n";
        Assert.Equal(message, await ReceiveAsync(subscriber, message.Length));
        await SendAsync(subscriber, "UNSUBSCRIBE\r\nGET k\r\n");
        expected = "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n$-1\r\n";
        Assert.Equal(expected, await ReceiveAsync(subscriber, expected.Length));
    }

    [Fact]
    public async Task QuitAnswersOkThenCloses()
    {
        Assert.Equal("+PONG\r\n+OK\r\n", await ExchangeUntilCloseAsync("PING\r\nQUIT\r\nPING\r\n"));
    }

    [Fact]
    public async Task AfterAHalfCloseEveryReplyIsStillSent()
    {
        using Socket socket = await ConnectAsync();
        await SendAsync(socket, string.Concat(Enumerable.Repeat("INCR n\r\n", 500)));
        socket.Shutdown(SocketShutdown.Send);
        string text = (await ReceiveTextToEndAsync(socket)).Text;
        Assert.EndsWith(":500\r\n", text);
        Assert.Equal(500, text.Count(c => c == ':'));
    }

    [Fact]
    public async Task LargeValuesRoundTripThroughAPausedReader()
    {
        // A fixed receive buffer turns off the kernel's autotuning, so it cannot absorb what the server sends.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 64 * 1024 };
        await socket.ConnectAsync(EndPoint).WaitAsync(Limit);
        // Under this class's 256 KiB query buffer limit.
        string value = string.Concat(Enumerable.Range(0, 200_000).Select(i => (char)('a' + i % 26)));
        await SendAsync(socket, $"*3\r\n$3\r\nSET\r\n$1\r\nv\r\n${value.Length}\r\n{value}\r\n");
        Assert.Equal("+OK\r\n", await ReceiveAsync(socket, 5));
        // Ask for it 100 times before reading anything (20 MB of replies, more than the kernel buffers): output backs up,
        // the server holds the commands it has not run yet and stops reading, then all of it arrives in order.
        await SendAsync(socket, string.Concat(Enumerable.Repeat("GET v\r\n", 100)));
        await WaitUntilAsync(() => Server.Sessions().Single().HasPendingInput, "commands wait for the output to drain");
        string expected = string.Concat(Enumerable.Repeat($"${value.Length}\r\n{value}\r\n", 100));
        Assert.Equal(expected, await ReceiveAsync(socket, expected.Length));
    }

}

/// <summary>Redis' <c>timeout</c>: a client idle for longer is closed; one that keeps talking is not.</summary>
public sealed class IdleTimeoutTests : RespServerTest
{
    // 1 s against pings 100 ms apart, sent from a thread of their own (ClientSockets.KeepTalkingAsync): paced by
    // Task.Delay, a busy CI machine twice held the busy client's next ping past the timeout (at 300 ms, then at 1 s).
    public IdleTimeoutTests() => StartServer(new RespServerOptions { IdleTimeout = TimeSpan.FromSeconds(1) });

    [Fact]
    public async Task AnIdleClientIsClosedAndABusyOneIsNot()
    {
        using Socket idle = await ConnectAsync();
        using Socket busy = await ConnectAsync();
        var closed = ReceiveTextToEndAsync(idle);
        List<byte[]> pongs = await ClientSockets.KeepTalkingAsync(busy, "PING\r\n"u8.ToArray(), 7, 15, TimeSpan.FromMilliseconds(100), Limit)
            .WaitAsync(Limit);
        Assert.All(pongs, pong => Assert.Equal("+PONG\r\n", Encoding.Latin1.GetString(pong)));
        // The busy one was served for 1.5 s, past the timeout; the idle one was closed (within the wait's generous
        // limit) and sent nothing. (Nothing more is asked of the busy one now that it is quiet: the test's own
        // continuations may take longer than the timeout on a busy machine.)
        Assert.Equal("", (await closed).Text);
    }
}
