using System.Buffers;
using FileServer.Http;
using Kevents.Net;

namespace FileServer;

/// <summary>
/// One client connection: buffers its input, parses request heads in order (pipelined requests wait in the buffer
/// while a response is in flight), and sends one response at a time. Loop thread only.
/// </summary>
/// <remarks>
/// States: ReadingHead -> (Opening ->) Sending -> ReadingHead for keep-alive, or -> Lingering (FIN sent, input
/// discarded until the peer closes or the linger deadline) when the connection must close; Closed from any state
/// when the socket closes, which also closes the file being sent.
/// </remarks>
internal sealed partial class HttpConnection
{
    private enum State
    {
        ReadingHead,
        Opening,
        Sending,
        Lingering,
        Closed,
    }

    private readonly StaticFileServer _server;
    private readonly StreamConnection _connection;
    private readonly HttpRequestParser _parser;
    private readonly int _maxBufferedInput;
    private State _state;
    private byte[]? _input;
    private int _inputCount;
    private bool _inputPaused;
    private bool _peerDone;
    private bool _shutdownRequested;
    private long _headerDeadlineNs;
    private long _lingerDeadlineNs;

    public HttpConnection(StaticFileServer server, StreamConnection connection)
    {
        _server = server;
        _connection = connection;
        FileServerOptions options = server.Options;
        _parser = new HttpRequestParser(options.MaxRequestLine, options.MaxHeaderBytes, options.MaxHeaderCount);
        // A complete head fits under the parser's limits; pipelined requests beyond this pause reading.
        _maxBufferedInput = options.MaxRequestLine + options.MaxHeaderBytes + 8 * 1024;
        _onWritable = OnWritable;
    }

    internal HttpConnection? PreviousLive { get; set; }

    internal HttpConnection? NextLive { get; set; }

    private long Id => _connection.Id;

    public void Start()
    {
        // A new connection must deliver its first request head within the header timeout; a connection that
        // sends nothing at all is a slowloris too.
        _headerDeadlineNs = _server.Loop.NowNanoseconds + _server.HeaderTimeoutNs;
    }

    public void OnData(ReadOnlySpan<byte> data)
    {
        if (_state is State.Lingering or State.Closed)
        {
            return; // Closing: what the peer still sends is read and dropped, so our last response is not reset.
        }
        Append(data);
        if (_state == State.ReadingHead)
        {
            ProcessBuffered();
        }
        else if (_inputCount >= _maxBufferedInput && !_inputPaused)
        {
            _inputPaused = true;
            _connection.PauseInput();
        }
    }

    public void OnEndOfStream()
    {
        _peerDone = true;
        switch (_state)
        {
            case State.ReadingHead:
                // Half-close after complete requests was handled as they were parsed; a partial head never completes.
                _connection.Close();
                break;
            case State.Lingering:
                _connection.Close();
                break;
            default:
                // Opening or Sending: finish this response (and any complete pipelined ones), then close.
                break;
        }
    }

    public void OnClosed()
    {
        if (_state is State.Opening or State.Sending && _fileRemaining > 0)
        {
            _server.Stats.AbortedResponses++;
        }
        _state = State.Closed;
        CloseFile();
        ReleaseOutput();
        ReleaseInput();
    }

    public void RequestShutdown()
    {
        _shutdownRequested = true;
        if (_state == State.ReadingHead)
        {
            _connection.Close();
        }
    }

    public void Abort(string reason) => _connection.Abort(reason);

    /// <summary>Called by the server's sweep: acts on deadlines that have passed.</summary>
    public void CheckDeadlines(long now)
    {
        if (_state == State.ReadingHead && _headerDeadlineNs != 0 && now >= _headerDeadlineNs)
        {
            _headerDeadlineNs = 0;
            Log.HeaderTimeout(_server.Logger, Id, _server.HeaderTimeoutNs / 1_000_000);
            if (_inputCount > 0)
            {
                SendError(408, keepAlive: false, isHead: false, "(incomplete)", "request head not received in time");
            }
            else
            {
                _connection.Close();
            }
        }
        else if (_state == State.Lingering && now >= _lingerDeadlineNs)
        {
            _connection.Close();
        }
    }

    private void ProcessBuffered()
    {
        while (_state == State.ReadingHead)
        {
            if (_inputPaused && _inputCount < _maxBufferedInput)
            {
                _inputPaused = false;
                _connection.ResumeInput();
            }
            if (_inputCount == 0)
            {
                ReleaseInput();
                if (_peerDone || _shutdownRequested)
                {
                    _connection.Close();
                }
                return;
            }
            if (_headerDeadlineNs == 0)
            {
                // The clock starts at the request's first byte and is not moved by later ones.
                _headerDeadlineNs = _server.Loop.NowNanoseconds + _server.HeaderTimeoutNs;
            }
            ParseStatus status = _parser.Parse(_input.AsSpan(0, _inputCount), out int consumed);
            if (status == ParseStatus.Incomplete)
            {
                if (_peerDone)
                {
                    _connection.Close();
                }
                return;
            }
            if (status == ParseStatus.Error)
            {
                SendError(_parser.ErrorStatus, keepAlive: false, isHead: false, "(unparsed)", _parser.ErrorReason);
                return;
            }
            HttpRequestHead head = _parser.Head;
            _parser.Reset();
            Consume(consumed);
            _headerDeadlineNs = 0;
            HandleRequest(head);
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        int needed = _inputCount + data.Length;
        if (_input is null || needed > _input.Length)
        {
            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, 4096));
            if (_input is not null)
            {
                Buffer.BlockCopy(_input, 0, bigger, 0, _inputCount);
                ArrayPool<byte>.Shared.Return(_input);
            }
            _input = bigger;
        }
        data.CopyTo(_input.AsSpan(_inputCount));
        _inputCount = needed;
    }

    private void Consume(int count)
    {
        _inputCount -= count;
        if (_inputCount > 0)
        {
            Buffer.BlockCopy(_input!, count, _input!, 0, _inputCount);
        }
    }

    private void ReleaseInput()
    {
        if (_input is not null)
        {
            ArrayPool<byte>.Shared.Return(_input);
            _input = null;
        }
        _inputCount = 0;
    }
}
