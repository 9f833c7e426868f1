using System.Buffers;
using System.Net;
using System.Text;
using Kevents.Net;
using Kevents.Tests;

namespace Kevents.Samples.Tests;

/// <summary>
/// A tiny Redis-protocol responder on its own loop thread, bound to a free loopback port, for LoadGen's RESP scenario:
/// multibulk PING, SET key value and GET key, answered in order with one write per read. It can spoil one reply on
/// purpose: <c>corruptGet</c> flips a byte in the value of the n-th GET reply (1-based, over all connections) and
/// <c>errorAt</c> answers the n-th command with an error.
/// </summary>
internal sealed class InProcessRespServer : IDisposable
{
    private readonly EventLoop _loop = new(new EventLoopOptions { Name = "test-resp" });
    private readonly SocketServer _server;
    private readonly Task _running;
    private readonly Responder _responder;

    public InProcessRespServer(int corruptGet = 0, int errorAt = 0)
    {
        _responder = new Responder(corruptGet, errorAt);
        _server = _loop.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0), _responder);
        EndPoint = (IPEndPoint)_server.LocalEndPoint;
        _running = _loop.RunAsync();
    }

    public IPEndPoint EndPoint { get; }

    public int ConnectionCount => _server.ConnectionCount;

    /// <summary>Commands answered so far (read from the test thread: may trail by a moment).</summary>
    public long Commands => Interlocked.Read(ref _responder.Commands);

    public void Dispose()
    {
        _server.ShutdownAsync(TimeSpan.FromSeconds(2)).Wait(TimeSpan.FromSeconds(5));
        _loop.DisposeWithServer(_running, _server);
    }

    private sealed class Responder(int corruptGet, int errorAt) : IStreamHandler
    {
        // Loop thread only.
        private readonly Dictionary<long, List<byte>> _pending = [];
        private readonly Dictionary<string, byte[]> _keys = [];
        private readonly ArrayBufferWriter<byte> _output = new();
        private int _gets;
        public long Commands;

        public void OnData(StreamConnection connection, ReadOnlySpan<byte> data)
        {
            if (!_pending.TryGetValue(connection.Id, out List<byte>? pending))
            {
                _pending[connection.Id] = pending = [];
            }
            pending.AddRange(data);
            byte[] buffer = [.. pending];
            int at = 0;
            _output.ResetWrittenCount();
            while (TryParse(buffer, ref at, out List<byte[]>? command))
            {
                Answer(command);
            }
            pending.RemoveRange(0, at);
            if (_output.WrittenCount > 0)
            {
                connection.Write(_output.WrittenSpan);
            }
        }

        public void OnClosed(StreamConnection connection, Exception? error) => _pending.Remove(connection.Id);

        private void Answer(List<byte[]> command)
        {
            long n = Interlocked.Increment(ref Commands);
            string name = Encoding.ASCII.GetString(command[0]).ToUpperInvariant();
            if (n == errorAt)
            {
                Write("-ERR spoiled on purpose\r\n"u8);
                return;
            }
            switch (name)
            {
                case "PING":
                    Write("+PONG\r\n"u8);
                    break;
                case "SET":
                    _keys[Encoding.Latin1.GetString(command[1])] = command[2];
                    Write("+OK\r\n"u8);
                    break;
                case "GET" when _keys.TryGetValue(Encoding.Latin1.GetString(command[1]), out byte[]? value):
                    byte[] reply = [.. value];
                    if (++_gets == corruptGet && reply.Length > 0)
                    {
                        reply[reply.Length / 2] ^= 0x20;
                    }
                    Write(Encoding.ASCII.GetBytes($"${reply.Length}\r\n"));
                    Write(reply);
                    Write("\r\n"u8);
                    break;
                case "GET":
                    Write("$-1\r\n"u8);
                    break;
                default:
                    Write("-ERR unknown command\r\n"u8);
                    break;
            }
        }

        private void Write(ReadOnlySpan<byte> bytes) => _output.Write(bytes);

        /// <summary>One "*N\r\n($len\r\nbytes\r\n)*N" array from <paramref name="at"/>; false (at unchanged) if it is not all there.</summary>
        private static bool TryParse(byte[] buffer, ref int at, out List<byte[]> command)
        {
            command = [];
            int p = at;
            if (!TryLine(buffer, ref p, '*', out int count))
            {
                return false;
            }
            for (int i = 0; i < count; i++)
            {
                if (!TryLine(buffer, ref p, '$', out int length) || p + length + 2 > buffer.Length)
                {
                    return false;
                }
                command.Add(buffer[p..(p + length)]);
                p += length + 2;
            }
            at = p;
            return true;
        }

        private static bool TryLine(byte[] buffer, ref int p, char type, out int value)
        {
            value = 0;
            int lf = Array.IndexOf(buffer, (byte)'\n', p);
            if (lf < 0)
            {
                return false;
            }
            if (buffer[p] != type)
            {
                throw new InvalidDataException($"expected '{type}' at {p}, got '{(char)buffer[p]}'");
            }
            value = int.Parse(Encoding.ASCII.GetString(buffer, p + 1, lf - p - 2));
            p = lf + 1;
            return true;
        }
    }
}
