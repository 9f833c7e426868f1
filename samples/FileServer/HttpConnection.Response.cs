using System.Buffers;
using FileServer.Http;
using Kevents.Hybrid;
using Kevents;
using Kevents.Net;

namespace FileServer;

// Responses. The head is built in the loop's scratch buffer, followed by the body when it is small and cached, and
// sent at once; only what the kernel does not take is copied to a rented buffer. Larger bodies go by sendfile
// straight from the page cache to the socket. When the socket is full, the connection waits for writability and
// continues; each turn sends at most MaxSendPerTurn bytes so one fast client cannot hold the loop.
internal sealed partial class HttpConnection
{
    private static readonly byte[] s_allowHeader = "Allow: GET, HEAD\r\n"u8.ToArray();
    private static readonly byte[] s_errorType = "text/plain; charset=utf-8"u8.ToArray();

    private readonly Action<Connection> _onWritable;
    private byte[]? _output;
    private int _outputOffset;
    private int _outputCount;
    private FileDescriptor? _file;
    private string? _filePath;
    private long _fileOffset;
    private long _fileRemaining;
    private long _bodyLength;
    private bool _closeAfter;
    private bool _http10; // the request being answered is HTTP/1.0 (keep-alive must then be said)

    private void HandleRequest(HttpRequestHead head)
    {
        bool keepAlive = head.KeepAlive && !_shutdownRequested;
        _http10 = head.Version == 10;
        if (!head.IsGet && !head.IsHead)
        {
            // A body we will not read follows a method with one: the connection cannot stay in step after it.
            SendError(405, keepAlive && !head.HasBody, isHead: false, head.Target, "method not allowed", allow: true);
            return;
        }
        if (head.HasBody)
        {
            // A static server accepts no request bodies; reading and discarding one only invites slow-body abuse.
            SendError(413, keepAlive: false, head.IsHead, head.Target, "request body on GET/HEAD");
            return;
        }
        string? relative = RequestPath.Resolve(head.Target, out string reason);
        if (relative is null)
        {
            SendError(400, keepAlive: false, head.IsHead, head.Target, reason);
            return;
        }
        _state = State.Opening;
        ValueTask<OpenedFile> open;
        try
        {
            open = _server.OpenAsync(relative);
        }
        catch (ThreadletQueueFullException)
        {
            SendError(503, keepAlive: false, head.IsHead, head.Target, "cache-miss queue full");
            return;
        }
        if (open.IsCompletedSuccessfully)
        {
            OnOpened(head, keepAlive, open.Result);
        }
        else
        {
            _ = AwaitOpenAsync(head, keepAlive, open);
        }
    }

    private async Task AwaitOpenAsync(HttpRequestHead head, bool keepAlive, ValueTask<OpenedFile> open)
    {
        OpenedFile opened;
        try
        {
            opened = await open;
        }
        catch (Exception ex)
        {
            // Queue full or the loop shutting down: nothing was opened.
            if (_state == State.Opening)
            {
                SendError(503, keepAlive: false, head.IsHead, head.Target, ex.Message);
            }
            return;
        }
        try
        {
            OnOpened(head, keepAlive && !_shutdownRequested, opened);
            if (_state == State.ReadingHead)
            {
                ProcessBuffered();
            }
        }
        catch (Exception ex)
        {
            _connection.Abort($"internal error: {ex.Message}");
        }
    }

    private void OnOpened(HttpRequestHead head, bool keepAlive, OpenedFile opened)
    {
        if (_state != State.Opening)
        {
            // The connection closed while the open was on a thread: the descriptor is ours to close.
            opened.File?.Dispose();
            return;
        }
        if (opened.Errno < 0)
        {
            int errno = -opened.Errno;
            int status = errno switch
            {
                Errno.ENOENT or Errno.ENOTDIR or Errno.ENAMETOOLONG => 404,
                Errno.EACCES or Errno.EPERM or Errno.EXDEV or Errno.ELOOP or Errno.ENXIO => 403,
                Errno.EMFILE or Errno.ENFILE or Errno.ENOMEM => 503,
                _ => 500,
            };
            if (status >= 500)
            {
                Log.OpenFailed(_server.Logger, opened.Path, errno);
            }
            SendError(status, keepAlive && status < 500, head.IsHead, head.Target, $"open: errno {errno}");
            return;
        }
        FileDescriptor file = opened.File!;
        if (!opened.Status.IsRegularFile)
        {
            file.Dispose();
            SendError(403, keepAlive, head.IsHead, head.Target, "not a regular file");
            return;
        }

        long length = opened.Status.Length;
        RangeOutcome range = ByteRange.Apply(head.Range, length, out long start, out long count);
        if (range == RangeOutcome.Unsatisfiable)
        {
            file.Dispose();
            SendError(416, keepAlive, head.IsHead, head.Target, "range not satisfiable", unsatisfiedLength: length);
            return;
        }

        int status200 = range == RangeOutcome.Partial ? 206 : 200;
        byte[] scratch = _server.Scratch;
        var writer = new HeadWriter(scratch);
        writer.StatusLine(status200);
        writer.Append(_server.DateHeader());
        writer.Header("Content-Type"u8, ContentTypes.For(opened.Path));
        writer.Header("Content-Length"u8, count);
        writer.LastModified(opened.Status.LastWriteTime);
        writer.Header("Accept-Ranges"u8, "bytes"u8);
        if (range == RangeOutcome.Partial)
        {
            writer.ContentRange(start, count, length);
        }
        writer.End(keepAlive, _http10);
        int headLength = writer.Length;
        _closeAfter = !keepAlive;
        _server.Stats.Count(status200);

        if (head.IsHead || count == 0)
        {
            file.Dispose();
            _bodyLength = 0;
            Send(headLength);
            return;
        }
        _bodyLength = count;
        if (count <= _server.Options.SmallFileLimit && headLength + count <= scratch.Length)
        {
            // Small and cached (RWF_NOWAIT answers from the page cache or says EAGAIN): one send for head and body.
            long read = file.Read(scratch.AsSpan(headLength, (int)count), start, noWait: true);
            if (read == count)
            {
                file.Dispose();
                Send(headLength + (int)count);
                return;
            }
        }
        _file = file;
        _filePath = opened.Path;
        _fileOffset = start;
        _fileRemaining = count;
        Send(headLength);
    }

    /// <param name="malformed">The request could not be parsed: whatever the status (501, 505 too), the client's fault.</param>
    private void SendError(int status, bool keepAlive, bool isHead, string target, string reason, bool allow = false, long unsatisfiedLength = -1, bool malformed = false)
    {
        Log.ClientError(_server.Logger, Id, status, target, reason);
        _server.Stats.Count(status, malformed);
        byte[] scratch = _server.Scratch;
        var writer = new HeadWriter(scratch);
        writer.StatusLine(status);
        writer.Append(_server.DateHeader());
        if (allow)
        {
            writer.Append(s_allowHeader);
        }
        if (unsatisfiedLength >= 0)
        {
            writer.UnsatisfiedRange(unsatisfiedLength);
        }
        ReadOnlySpan<byte> reasonText = HeadWriter.Reason(status);
        writer.Header("Content-Type"u8, s_errorType);
        writer.Header("Content-Length"u8, reasonText.Length + 1);
        writer.End(keepAlive, _http10);
        if (!isHead)
        {
            writer.Append(reasonText);
            writer.Append("\n"u8);
        }
        _closeAfter = !keepAlive;
        _bodyLength = 0;
        Send(writer.Length);
    }

    /// <summary>Sends the first <paramref name="length"/> bytes of the scratch buffer, then the file part, if any.</summary>
    private void Send(int length)
    {
        _state = State.Sending;
        // SendDirect counts what the kernel took in the connection's BytesWritten and idle clock.
        long sent = _connection.SendDirect(_server.Scratch.AsSpan(0, length), more: _fileRemaining > 0);
        if (sent < 0 && sent != -Errno.EAGAIN)
        {
            Fail((int)-sent);
            return;
        }
        int rest = length - (int)Math.Max(0, sent);
        if (rest > 0)
        {
            // The scratch buffer is shared by every connection on the loop: keep what the kernel did not take.
            _output = ArrayPool<byte>.Shared.Rent(rest);
            Buffer.BlockCopy(_server.Scratch, length - rest, _output, 0, rest);
            _outputOffset = 0;
            _outputCount = rest;
        }
        if (Pump())
        {
            FinishResponse();
        }
    }

    /// <summary>Sends what is left of the response: true when all of it is out, false when waiting or closed.</summary>
    private bool Pump()
    {
        long budget = _server.Options.MaxSendPerTurn;
        while (true)
        {
            long sent;
            if (_outputCount > 0)
            {
                sent = _connection.SendDirect(_output.AsSpan(_outputOffset, _outputCount), more: _fileRemaining > 0);
                if (sent > 0)
                {
                    _outputOffset += (int)sent;
                    _outputCount -= (int)sent;
                    if (_outputCount == 0)
                    {
                        ReleaseOutput();
                    }
                }
            }
            else if (_fileRemaining > 0)
            {
                int chunk = (int)Math.Min(_fileRemaining, Math.Max(budget, 64 * 1024));
                sent = _connection.SendFile(_file!, ref _fileOffset, chunk);
                if (sent == 0)
                {
                    Log.FileShrank(_server.Logger, _filePath ?? "?");
                    _connection.Abort("the file ended before its Content-Length");
                    return false;
                }
                if (sent > 0)
                {
                    _fileRemaining -= sent;
                }
            }
            else
            {
                return true;
            }

            if (sent == -Errno.EAGAIN)
            {
                _connection.NotifyWritable(_onWritable);
                return false;
            }
            if (sent < 0)
            {
                Fail((int)-sent);
                return false;
            }
            budget -= sent;
            if (budget <= 0 && (_outputCount > 0 || _fileRemaining > 0))
            {
                // This connection had its share of the turn; the socket is still writable, so the wait is one turn.
                _connection.NotifyWritable(_onWritable);
                return false;
            }
        }
    }

    private void OnWritable(Connection connection)
    {
        if (_parseYielded)
        {
            _parseYielded = false;
            ProcessBuffered();
            return;
        }
        if (_state != State.Sending)
        {
            return;
        }
        if (Pump())
        {
            FinishResponse();
            ProcessBuffered();
        }
    }

    private void FinishResponse()
    {
        CloseFile();
        _server.Stats.BodyBytes += _bodyLength;
        if (_closeAfter)
        {
            BeginLingeringClose();
            return;
        }
        _state = State.ReadingHead;
    }

    /// <summary>
    /// Closes after the last response without losing it: FIN first, then input is read and dropped until the peer
    /// closes or the linger deadline passes. Closing with unread input would send a reset that can destroy the
    /// response still in flight (nginx's lingering_close exists for the same reason).
    /// </summary>
    private void BeginLingeringClose()
    {
        _state = State.Lingering;
        ReleaseInput();
        if (_peerDone)
        {
            _connection.Close();
            return;
        }
        _lingerDeadlineNs = _server.Loop.NowNanoseconds + _server.LingerTimeoutNs;
        if (_inputPaused)
        {
            _inputPaused = false;
            _connection.ResumeInput();
        }
        _connection.Shutdown();
    }

    private void Fail(int errno)
    {
        Log.SendFailed(_server.Logger, Id, errno, _fileRemaining + _outputCount);
        _connection.Abort($"send failed with errno {errno}");
    }

    private void CloseFile()
    {
        _file?.Dispose();
        _file = null;
        _filePath = null;
        _fileRemaining = 0;
    }

    private void ReleaseOutput()
    {
        if (_output is not null)
        {
            ArrayPool<byte>.Shared.Return(_output);
            _output = null;
        }
        _outputOffset = 0;
        _outputCount = 0;
    }
}
