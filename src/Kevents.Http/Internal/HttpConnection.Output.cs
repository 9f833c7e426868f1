using System.Buffers;
using Kevents.Net;
using Kevents.Net.Internal;

namespace Kevents.Http;

// Output. Responses are appended to one buffer and sent with one send when the read batch (or an awaited handler)
// ends; a file body follows by sendfile. When the socket is full the connection waits for writability and stops
// handling pipelined requests meanwhile. Each turn sends at most MaxSendPerTurn bytes of a file.
internal sealed partial class HttpConnection
{
    /// <summary>Room for <paramref name="length"/> more bytes at the end of the output; the caller adds to _outputCount.</summary>
    private Span<byte> ReserveOutput(int length)
    {
        if (_output is null)
        {
            _output = NetBuffers.Arrays.Rent(Math.Max(length, 4096));
            _outputStart = _outputCount = 0;
        }
        else if (_outputCount + length > _output.Length)
        {
            int pending = _outputCount - _outputStart;
            byte[] target = pending + length <= _output.Length ? _output : NetBuffers.Arrays.Rent(Math.Max(pending + length, _output.Length * 2));
            Buffer.BlockCopy(_output, _outputStart, target, 0, pending);
            if (target != _output)
            {
                NetBuffers.Arrays.Return(_output);
            }
            _output = target;
            _outputStart = 0;
            _outputCount = pending;
        }
        return _output.AsSpan(_outputCount, length);
    }

    /// <summary>Sends what is pending. Returns true when everything is out.</summary>
    private bool Flush()
    {
        if (_waitingWritable || _waitingForRead || _state == State.Closed)
        {
            return false;
        }
        long budget = _server.Options.MaxSendPerTurn;
        while (true)
        {
            long sent;
            if (_outputCount > _outputStart)
            {
                _server.Sends++;
                sent = _connection.SendDirect(_output.AsSpan(_outputStart, _outputCount - _outputStart), more: _fileRemaining > 0);
                if (sent > 0)
                {
                    _outputStart += (int)sent;
                    if (_outputStart == _outputCount)
                    {
                        ReleaseOutput();
                    }
                }
            }
            else if (_fileRemaining > 0)
            {
                int chunk = (int)Math.Min(_fileRemaining, Math.Max(budget, 64 * 1024));
                chunk = CachedChunk(chunk);
                if (chunk == 0)
                {
                    return false; // a threadlet is reading the range into the cache; its completion sends it
                }
                sent = _connection.SendFile(_file!, ref _fileOffset, chunk);
                if (sent == 0)
                {
                    HttpLog.FileEnded(_server.Logger, Id);
                    _connection.Abort("the file ended before its Content-Length");
                    return false;
                }
                if (sent > 0)
                {
                    _fileRemaining -= sent;
                    if (_fileRemaining == 0)
                    {
                        CloseFile();
                    }
                }
            }
            else
            {
                ReleaseOutput();
                OutputDone();
                return true;
            }

            if (sent == -Errno.EAGAIN)
            {
                WaitWritable();
                return false;
            }
            if (sent < 0)
            {
                HttpLog.SendFailed(_server.Logger, Id, (int)-sent);
                _connection.Abort($"send failed with errno {-sent}");
                return false;
            }
            budget -= sent;
            if (budget <= 0 && (_outputCount > _outputStart || _fileRemaining > 0))
            {
                // This connection had its share of the turn; the socket is still writable, so the wait is one turn.
                WaitWritable();
                return false;
            }
        }
    }

    private void WaitWritable()
    {
        if (!_waitingWritable && _connection.NotifyWritable(_onWritable))
        {
            _waitingWritable = true;
        }
    }

    private void OnWritable(Connection connection)
    {
        _waitingWritable = false;
        _yielded = false;
        _handledThisTurn = 0;
        if (_state == State.Closed)
        {
            return;
        }
        SendAndContinue();
    }

    /// <summary>
    /// Sends what is pending; each time everything is out, handles the requests that waited in the buffer for it and
    /// sends their answers. Ends when the input is used up or can go no further now (an awaited handler, a full
    /// socket, an incomplete head, the turn's share of requests). Pipelined requests stop behind a file body, and
    /// once it is out nothing else would wake them: the client sent them all and waits, so no read follows.
    /// </summary>
    private void SendAndContinue()
    {
        while (Flush() && Buffered > 0)
        {
            int before = Buffered;
            RunBuffered();
            if (Buffered == before)
            {
                break; // nothing more can be handled now; whatever resumes it (handler, writability, read) calls here
            }
        }
        YieldIfAsked();
    }

    /// <summary>
    /// After a turn's share of pipelined requests: go on at the next turn. The wait for writability ends at once
    /// unless the client is not reading its responses, and then it should wait anyway.
    /// </summary>
    private void YieldIfAsked()
    {
        if (_yielded && _state != State.Closed && !_waitingWritable)
        {
            WaitWritable();
        }
    }

    /// <summary>Everything written so far is out: close if that was the last response.</summary>
    private void OutputDone()
    {
        if (_closeAfterOutput && _state == State.Lingering)
        {
            _closeAfterOutput = false;
            if (_peerDone)
            {
                _connection.Close();
                return;
            }
            // FIN first, then input is read and dropped until the peer closes or the linger deadline: closing with
            // unread input would send a reset that can destroy the response still in flight.
            _connection.Shutdown();
            return;
        }
        if (_state == State.Head && (_peerDone || _shutdownRequested))
        {
            CloseIfIdle();
        }
    }

    private void CloseFile()
    {
        if (_ownsFile)
        {
            _file?.Dispose();
        }
        _file = null;
        _ownsFile = false;
        _fileRemaining = 0;
        _cachedUntil = 0;
    }

    private void ReleaseOutput()
    {
        if (_output is not null)
        {
            NetBuffers.Arrays.Return(_output);
            _output = null;
        }
        _outputStart = 0;
        _outputCount = 0;
    }
}
