using System.Buffers;
using System.Threading.Tasks.Sources;
using Kevents.Net;
using Kevents.Net.Internal;

namespace Kevents.Http;

/// <summary>
/// One HTTP/1.1 connection on the low-level stream API. Input is parsed where the loop read it (its receive buffer,
/// from an offset that moves per request); only an incomplete request's bytes are copied, into a per-connection
/// buffer, when the read ends in the middle of one. Responses are appended to one output buffer and sent with one
/// send per read batch (and when an awaited handler completes, and when a file body is out and the requests
/// that waited behind it have been answered). Requests are handled one at a time, in order: while
/// a handler runs, or a response waits for the socket, pipelined input waits in the buffer (reading pauses when it
/// grows past the limits). Loop thread only.
/// </summary>
internal sealed partial class HttpConnection : IHttpBodySource, IValueTaskSource<ReadOnlyMemory<byte>>, ILoopTimerTarget
{
    private static readonly byte[] s_continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();

    private enum State
    {
        Head,
        Active,
        Lingering,
        Closed,
    }

    private readonly HttpServer _server;
    private readonly StreamConnection _connection;
    private readonly HttpRequestParser _parser;
    private readonly HttpRequest _request = new();
    private readonly HttpResponse _response = new();
    private readonly HttpChunkedDecoder _chunked = new();
    private readonly Action<Connection> _onWritable;
    private readonly int _maxBufferedInput;
    private State _state;

    // Unparsed input that outlived its read: _input[_inputStart.._inputCount].
    private byte[]? _input;
    private int _inputStart;
    private int _inputCount;
    private bool _inputPaused;
    private bool _peerDone;
    private bool _shutdownRequested;

    // The request being handled.
    private bool _handlerDone;
    private bool _bodyDone;
    private long _bodyRemaining; // Content-Length bodies
    private long _bodyReceived;
    private bool _bodyFailed;
    private bool _continueSent;
    private byte[]? _body; // decoded body bytes not yet handed to the handler: _body[.._bodyCount]
    private int _bodyCount;
    private byte[]? _handedOut; // the buffer the last ReadBodyAsync returned (valid until the next read)
    private bool _readPending;
    private ManualResetValueTaskSourceCore<ReadOnlyMemory<byte>> _read;
    private CancellationTokenRegistration _readCancel;

    // Output: responses not yet sent, then the file body of the last one.
    private byte[]? _output;
    private int _outputStart;
    private int _outputCount;
    private FileDescriptor? _file;
    private bool _ownsFile;
    private long _fileOffset;
    private long _fileRemaining;
    private bool _waitingWritable;
    private bool _closeAfterOutput;

    private int _handledThisTurn;
    private bool _processing; // inside Process: a handler's completion that runs inline there must not parse again
    private bool _yielded;
    private bool _incompleteHead; // what is buffered is the start of a head, not requests waiting for their turn
    private bool _clientFault;
    private LoopTimer _timer;
    private long _deadlineNs;

    public HttpConnection(HttpServer server, StreamConnection connection)
    {
        _server = server;
        _connection = connection;
        HttpServerOptions options = server.Options;
        _parser = new HttpRequestParser(options.MaxRequestLine, options.MaxHeaderBytes, options.MaxHeaderCount, _request);
        _request.BodySource = this;
        _maxBufferedInput = options.MaxRequestLine + options.MaxHeaderBytes + 64 * 1024;
        _onWritable = OnWritable;
        // Continuations go through the loop's queue, never inline inside the parse loop that completed the read.
        _read.RunContinuationsAsynchronously = true;
    }

    internal HttpConnection? PreviousLive { get; set; }

    internal HttpConnection? NextLive { get; set; }

    private long Id => _connection.Id;

    private int Buffered => _inputCount - _inputStart;

    public void Start()
    {
        // A new connection must deliver its first request head within the header timeout; one that sends nothing
        // at all is a slowloris too.
        ArmDeadline(_server.HeaderTimeoutNs);
    }

    public void OnData(ReadOnlySpan<byte> data)
    {
        _server.Reads++;
        _handledThisTurn = 0;
        if (_state is State.Lingering or State.Closed)
        {
            return; // Closing: what the peer still sends is read and dropped, so our last response is not reset.
        }
        if (Buffered > 0)
        {
            Append(data);
            RunBuffered();
        }
        else
        {
            int used = Process(data);
            if (used < data.Length && _state is State.Head or State.Active)
            {
                Append(data[used..]);
                CheckInputLimit();
            }
        }
        SendAndContinue();
    }

    public void OnEndOfStream()
    {
        _peerDone = true;
        if (_state == State.Lingering)
        {
            _connection.Close();
            return;
        }
        if (_state == State.Active && !_bodyDone)
        {
            // The body can never complete now.
            FailBody("the client closed the connection before the whole body arrived");
        }
        CloseIfIdle();
    }

    public void OnClosed()
    {
        if (_fileRemaining > 0)
        {
            _server.AbortedResponses++;
        }
        _state = State.Closed;
        StopDeadline();
        CloseFile();
        ReleaseOutput();
        ReleaseInput();
        if (_readPending)
        {
            _readPending = false;
            _readCancel.Dispose();
            _read.SetException(new IOException("The connection closed before the whole body arrived."));
        }
        ReturnBody();
        _response.ReleaseFile();
    }

    public void RequestShutdown()
    {
        _shutdownRequested = true;
        CloseIfIdle();
    }

    public void Abort(string reason) => _connection.Abort(reason);

    void ILoopTimerTarget.OnTimer()
    {
        _timer = default;
        _deadlineNs = 0;
        if (_state == State.Lingering)
        {
            _connection.Close();
            return;
        }
        if (_state == State.Head)
        {
            HttpLog.HeaderTimeout(_server.Logger, Id, _server.HeaderTimeoutNs / 1_000_000);
            if (Buffered > 0)
            {
                _clientFault = true;
                SendError(408, "request head not received in time");
                Flush();
            }
            else
            {
                _connection.Close();
            }
        }
        else if (_state == State.Active)
        {
            CheckBodyRate();
        }
    }

    /// <summary>Handles what is buffered from earlier reads, after a handler finished or the socket drained.</summary>
    private void RunBuffered()
    {
        if (Buffered == 0)
        {
            return;
        }
        int used = Process(_input.AsSpan(_inputStart, Buffered));
        if (_state is State.Lingering or State.Closed)
        {
            ReleaseInput();
            return;
        }
        _inputStart += used;
        if (_inputStart == _inputCount)
        {
            ReleaseInput();
        }
        CheckInputLimit();
    }

    /// <summary>Parses and handles requests in <paramref name="data"/>; returns how many bytes were used.</summary>
    private int Process(ReadOnlySpan<byte> data)
    {
        bool outer = !_processing;
        _processing = true;
        try
        {
            return ProcessRequests(data);
        }
        finally
        {
            _processing = !outer;
        }
    }

    private int ProcessRequests(ReadOnlySpan<byte> data)
    {
        int pos = 0;
        while (true)
        {
            switch (_state)
            {
                case State.Head:
                    if (pos == data.Length || _waitingWritable || _fileRemaining > 0)
                    {
                        // Pipelined requests wait while the previous response waits for the socket.
                        return pos;
                    }
                    if (_handledThisTurn >= _server.Options.MaxRequestsPerTurn)
                    {
                        // A deep pipeline of quick answers would hold the loop for as long as it lasts: the rest
                        // waits for the next turn (Yield), other connections go first.
                        _yielded = true;
                        return pos;
                    }
                    HttpParseStatus status = _parser.Parse(data[pos..], out int consumed);
                    _incompleteHead = status == HttpParseStatus.Incomplete;
                    if (status == HttpParseStatus.Incomplete)
                    {
                        if (_deadlineNs == 0)
                        {
                            // The clock starts at the request's first byte and is not moved by later ones.
                            ArmDeadline(_server.HeaderTimeoutNs);
                        }
                        return pos;
                    }
                    if (status == HttpParseStatus.Error)
                    {
                        _server.ProtocolErrors++;
                        HttpLog.BadRequest(_server.Logger, Id, _parser.ErrorStatus, _parser.ErrorReason);
                        _clientFault = true;
                        SendError(_parser.ErrorStatus, _parser.ErrorReason);
                        return data.Length;
                    }
                    pos += consumed;
                    _parser.Reset();
                    StopDeadline();
                    _server.NoteRequestsInOneTurn(++_handledThisTurn);
                    StartRequest();
                    continue;
                case State.Active:
                    if (!_bodyDone)
                    {
                        if (pos == data.Length)
                        {
                            return pos;
                        }
                        int used = ReceiveBody(data[pos..]);
                        pos += used;
                        if (used == 0)
                        {
                            return pos; // the body window is full until the handler reads
                        }
                        continue;
                    }
                    if (!_handlerDone)
                    {
                        return pos;
                    }
                    EndRequest();
                    continue;
                default:
                    return data.Length;
            }
        }
    }

    private void StartRequest()
    {
        _server.Requests++;
        _state = State.Active;
        _handlerDone = false;
        _bodyFailed = false;
        _continueSent = false;
        _bodyReceived = 0;
        _bodyInput = 0;
        _bodyRate.StartPaused(0);
        _bodyDone = !_request.HasBody;
        _bodyRemaining = _request.ContentLength > 0 ? _request.ContentLength : 0;
        if (_request.IsChunked)
        {
            _chunked.Reset();
        }
        if (_request.ContentLength > _server.Options.MaxRequestBodySize)
        {
            _server.ProtocolErrors++;
            HttpLog.BadRequest(_server.Logger, Id, 413, "declared body larger than the limit");
            _clientFault = true;
            SendError(413, "declared body larger than the limit");
            return;
        }
        _response.Reset();
        if (_shutdownRequested)
        {
            _response.CloseConnection = true;
        }
        ValueTask task;
        try
        {
            task = _server.Handler(_request, _response);
        }
        catch (Exception ex)
        {
            HandlerFailed(ex);
            return;
        }
        if (task.IsCompletedSuccessfully)
        {
            task.GetAwaiter().GetResult();
            HandlerDone();
        }
        else
        {
            _ = AwaitHandlerAsync(task);
        }
    }

    private async Task AwaitHandlerAsync(ValueTask task)
    {
        try
        {
            await task;
        }
        catch (Exception ex)
        {
            if (_state == State.Active)
            {
                HandlerFailed(ex);
                if (!_processing)
                {
                    Flush();
                }
            }
            return;
        }
        if (_state != State.Active)
        {
            return; // closed meanwhile
        }
        HandlerDone();
        if (_processing)
        {
            // The handler completed between StartRequest's look and this await (on another thread), so this runs
            // inline in the parse loop that started it: that loop goes on with the next request and sends. Parsing
            // the buffer here would handle again the request the loop has not yet counted as used.
            return;
        }
        _handledThisTurn = 0;
        RunBuffered();
        SendAndContinue();
    }

    private void HandlerFailed(Exception ex)
    {
        HttpLog.HandlerFailed(_server.Logger, Id, _request.Method, _request.Target, ex);
        _handlerDone = true;
        SendError(500, "the handler failed");
    }

    private void HandlerDone()
    {
        _handlerDone = true;
        if (_readPending)
        {
            // The handler finished without waiting for its read: nobody will consume it.
            _readPending = false;
            _readCancel.Dispose();
            _read.SetException(new InvalidOperationException("The handler completed while a body read was pending."));
        }
        bool bodyPending = !_bodyDone;
        // A client that waits for "100 Continue" before sending its body, and never got it, must not be kept:
        // it may send the body anyway or never; either way the connection is out of step.
        bool keepAlive = _request.KeepAlive && !_response.CloseConnection && !_shutdownRequested && !_bodyFailed
            && !(bodyPending && _request.ExpectContinue && !_continueSent);
        WriteResponse(keepAlive);
        ReturnBody();
        if (!keepAlive)
        {
            _closeAfterOutput = true;
            _state = State.Lingering;
            StartLingering();
            return;
        }
        if (!bodyPending)
        {
            EndRequest();
            return;
        }
        // Otherwise the rest of the body is read and dropped (Process) before the next request, on the body clock.
        UpdateBodyClock();
    }

    private void EndRequest()
    {
        StopDeadline(); // the body-rate timer, if one was armed; the next head arms its own deadline
        _state = State.Head;
        if (_peerDone || _shutdownRequested)
        {
            CloseIfIdle();
        }
    }

    private void WriteResponse(bool keepAlive)
    {
        HttpResponse response = _response;
        int status = response.StatusCode;
        bool isHead = ReferenceEquals(_request.Method, "HEAD");
        bool noBody = status is 204 or 304 || status < 200;
        FileDescriptor? file = response.File;
        long bodyLength = file is not null ? response.FileCount : response.BodyLength;
        ReadOnlySpan<byte> headers = response.HeaderBytes;
        int headMax = 200 + headers.Length;
        int inline = file is null && !isHead && !noBody ? response.BodyLength : 0;
        Span<byte> target = ReserveOutput(headMax + inline);
        var writer = new HttpHeadWriter(target);
        writer.StatusLine(status);
        writer.Date();
        writer.Append(headers);
        if (!noBody)
        {
            writer.Header("Content-Length"u8, bodyLength);
        }
        writer.End(keepAlive, _request.Version == 10);
        if (inline > 0)
        {
            writer.Append(response.Body);
        }
        _outputCount += writer.Length;
        _server.CountResponse(status, _clientFault);
        _clientFault = false;
        if (file is not null)
        {
            if (!isHead && !noBody && response.FileCount > 0)
            {
                _file = file;
                _ownsFile = response.OwnsFile;
                _fileOffset = response.FileOffset;
                _fileRemaining = response.FileCount;
                response.DetachFile();
            }
            else
            {
                response.ReleaseFile();
            }
        }
    }

    /// <summary>Answers an error the connection cannot recover from, then closes (lingering).</summary>
    private void SendError(int status, string reason)
    {
        _ = reason; // logged by the caller
        _response.Reset();
        _response.StatusCode = status;
        _response.AddHeader("Content-Type"u8, "text/plain; charset=utf-8"u8);
        _response.Write(HttpHeadWriter.Reason(status));
        _response.Write("\n"u8);
        if (_state != State.Active)
        {
            _request.Clear(); // an unparsed request: never a HEAD, HTTP/1.1 framing
            _request.Version = 11;
        }
        WriteResponse(keepAlive: false);
        _response.Reset();
        ReturnBody();
        _closeAfterOutput = true;
        _state = State.Lingering;
        StartLingering();
    }

    private void StartLingering()
    {
        ReleaseInput();
        if (_inputPaused)
        {
            _inputPaused = false;
            _connection.ResumeInput();
        }
        ArmDeadline(_server.LingerTimeoutNs);
    }

    private void CloseIfIdle()
    {
        if (_state == State.Head && Buffered == 0 && _outputCount == 0 && _fileRemaining == 0)
        {
            _connection.Close();
        }
        else if (_state == State.Head && _peerDone && _incompleteHead && !_waitingWritable && _outputCount == 0 && _fileRemaining == 0)
        {
            // What is buffered is an incomplete head (complete ones were handled): it can never complete now.
            _connection.Close();
        }
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_input is null || _inputCount + data.Length > _input.Length)
        {
            // No room at the end: move the unparsed bytes to the front (of a bigger buffer if need be). Requests are
            // consumed by moving _inputStart, so bytes move here, at most once per read, never once per request.
            int buffered = Buffered;
            byte[] target = _input is not null && buffered + data.Length <= _input.Length
                ? _input
                : NetBuffers.Arrays.Rent(Math.Max(buffered + data.Length, 4096));
            if (buffered > 0)
            {
                Buffer.BlockCopy(_input!, _inputStart, target, 0, buffered);
                _server.InputBytesMoved += buffered;
            }
            if (_input is not null && target != _input)
            {
                NetBuffers.Arrays.Return(_input);
            }
            _input = target;
            _inputStart = 0;
            _inputCount = buffered;
        }
        data.CopyTo(_input.AsSpan(_inputCount));
        _inputCount += data.Length;
    }

    private void CheckInputLimit()
    {
        if (!_inputPaused && Buffered >= _maxBufferedInput)
        {
            _inputPaused = true;
            _connection.PauseInput();
        }
        else if (_inputPaused && Buffered < _maxBufferedInput / 2)
        {
            _inputPaused = false;
            _connection.ResumeInput();
        }
    }

    private void ReleaseInput()
    {
        if (_input is not null)
        {
            NetBuffers.Arrays.Return(_input);
            _input = null;
        }
        _inputStart = _inputCount = 0;
    }

    private void ArmDeadline(long delayNs)
    {
        StopDeadline();
        if (delayNs == long.MaxValue)
        {
            return;
        }
        _deadlineNs = _server.Loop.NowNanoseconds + delayNs;
        _timer = _server.Loop.StartTimer(delayNs, this);
    }

    private void StopDeadline()
    {
        if (_deadlineNs != 0)
        {
            _deadlineNs = 0;
            _server.Loop.StopTimer(ref _timer);
        }
    }
}
