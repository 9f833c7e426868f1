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
    private int _inputStart; // the unparsed input is _input[_inputStart.._inputCount]
    private int _inputCount;
    private bool _parseYielded;
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

    /// <summary>Bytes received and not yet parsed.</summary>
    private int Buffered => _inputCount - _inputStart;

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
        if (_state == State.ReadingHead && !_parseYielded)
        {
            ProcessBuffered();
        }
        else if (Buffered >= _maxBufferedInput && !_inputPaused)
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
                // Complete requests still buffered wait for the turn they yielded to; ProcessBuffered closes after
                // them. Otherwise what is buffered is a partial head, which can never complete now.
                if (!_parseYielded)
                {
                    _connection.Close();
                }
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
            if (Buffered > 0)
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
        int handled = 0;
        while (_state == State.ReadingHead)
        {
            if (handled >= Math.Max(1, _server.Options.MaxRequestsPerTurn))
            {
                // A deep pipeline of requests answered at once (404s, small cached files) would hold the loop for
                // as long as it lasts: give the other connections their turn and go on at the next one. The wait
                // for writability ends at once unless the client is not reading its responses, and then it should
                // wait anyway. Input beyond the buffer limit pauses meanwhile (OnData).
                if (_connection.NotifyWritable(_onWritable))
                {
                    _parseYielded = true;
                    if (Buffered >= _maxBufferedInput && !_inputPaused)
                    {
                        _inputPaused = true;
                        _connection.PauseInput();
                    }
                }
                return;
            }
            if (_inputPaused && Buffered < _maxBufferedInput)
            {
                _inputPaused = false;
                _connection.ResumeInput();
            }
            if (Buffered == 0)
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
            ParseStatus status = _parser.Parse(_input.AsSpan(_inputStart, Buffered), out int consumed);
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
                _http10 = false;
                SendError(_parser.ErrorStatus, keepAlive: false, isHead: false, "(unparsed)", _parser.ErrorReason, malformed: true);
                return;
            }
            HttpRequestHead head = _parser.Head;
            _parser.Reset();
            Consume(consumed);
            _headerDeadlineNs = 0;
            handled++;
            _server.Stats.NoteRequestsInOneTurn(handled);
            HandleRequest(head);
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_input is null || _inputCount + data.Length > _input.Length)
        {
            // No room at the end: move the unparsed bytes to the front (of a bigger buffer if need be). Requests
            // are consumed by moving _inputStart, so the bytes are moved here, at most once per read, never once
            // per request.
            int buffered = Buffered;
            byte[] target = _input is not null && buffered + data.Length <= _input.Length
                ? _input
                : ArrayPool<byte>.Shared.Rent(Math.Max(buffered + data.Length, 4096));
            if (buffered > 0)
            {
                Buffer.BlockCopy(_input!, _inputStart, target, 0, buffered);
                _server.Stats.InputBytesMoved += buffered;
            }
            if (_input is not null && target != _input)
            {
                ArrayPool<byte>.Shared.Return(_input);
            }
            _input = target;
            _inputStart = 0;
            _inputCount = buffered;
        }
        data.CopyTo(_input.AsSpan(_inputCount));
        _inputCount += data.Length;
    }

    private void Consume(int count)
    {
        _inputStart += count;
        if (_inputStart == _inputCount)
        {
            _inputStart = _inputCount = 0;
        }
    }

    private void ReleaseInput()
    {
        if (_input is not null)
        {
            ArrayPool<byte>.Shared.Return(_input);
            _input = null;
        }
        _inputStart = _inputCount = 0;
    }
}
