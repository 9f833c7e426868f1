using System.Buffers;
using System.Threading.Tasks.Sources;
using Kevents.Net.Internal;

namespace Kevents.Http;

// Request bodies. Decoded bytes collect in a window (at most BodyWindow bytes) until the handler reads them; while
// the window is full the rest stays in the input buffer and reading pauses at its limit, so a client cannot make
// the server hold more than the window plus the input limit. A handler that returns without reading the whole body
// has the rest read and dropped, within the same size limit, before the next request.
//
// Minimum body rate (HttpServerOptions.MinRequestBodyDataRate; Kestrel's MinRequestBodyDataRate): the windows of
// Kevents.Net's minimum response rate (RateWindow), on a clock that runs only while the server waits for body bytes,
// i.e. while the handler awaits a read or the unread rest is being dropped. The connection's deadline timer, idle
// while a request is active, fires at the end of each window; nothing is done per byte.
internal sealed partial class HttpConnection
{
    private const int BodyWindow = 64 * 1024;

    private RateWindow _bodyRate;
    private long _bodyInput; // input bytes of the current body consumed so far (chunk framing included)

    private bool BodyClockShouldRun => _state == State.Active && !_bodyDone && !_bodyFailed && (_readPending || _handlerDone);

    /// <summary>Starts or pauses the body-rate clock after anything that changes whether the server waits for body bytes.</summary>
    private void UpdateBodyClock()
    {
        if (_server.BodyRateWindowNs == long.MaxValue)
        {
            return;
        }
        long now = _server.Loop.NowNanoseconds;
        if (!BodyClockShouldRun)
        {
            _bodyRate.Pause(now);
            return;
        }
        if (_bodyRate.Running)
        {
            return;
        }
        _bodyRate.Resume(now);
        if (_deadlineNs == 0)
        {
            // An armed timer fires no later than this window can end (the clock never runs faster than time); when
            // it finds the window short it re-arms for the rest.
            ArmBodyTimer(now);
        }
    }

    private void ArmBodyTimer(long now) => ArmDeadline(_bodyRate.EndsAtNs(now, _server.BodyRateWindowNs) - now);

    /// <summary>The deadline timer fired while a request is active: judge the body's rate if its window has ended.</summary>
    private void CheckBodyRate()
    {
        if (_bodyDone || _bodyFailed || _server.BodyRateWindowNs == long.MaxValue)
        {
            return;
        }
        long now = _server.Loop.NowNanoseconds;
        double minimum = _server.MinBodyRate;
        if (_bodyRate.Judge(now, _bodyInput, _server.BodyRateWindowNs, minimum, out double rate, out long elapsedNs) == RateVerdict.TooSlow)
        {
            _server.ProtocolErrors++;
            HttpLog.BodyRateTooLow(_server.Logger, Id, (long)rate, elapsedNs / 1_000_000, (long)minimum);
            _clientFault = true;
            BodyBroken(408, "request body arrived below the minimum rate");
            Flush();
            return;
        }
        if (_bodyRate.Running)
        {
            ArmBodyTimer(now);
        }
    }

    /// <summary>Decodes body bytes from <paramref name="data"/>; returns how many input bytes were used.</summary>
    private int ReceiveBody(ReadOnlySpan<byte> data)
    {
        Span<byte> room;
        if (_handlerDone)
        {
            // Dropping what nobody will read: decode into the scratch window and forget it.
            _body ??= NetBuffers.Arrays.Rent(BodyWindow);
            _bodyCount = 0;
            room = _body.AsSpan(0, BodyWindow);
        }
        else
        {
            _body ??= NetBuffers.Arrays.Rent(BodyWindow);
            room = _body.AsSpan(_bodyCount, BodyWindow - _bodyCount);
            if (room.IsEmpty)
            {
                return 0;
            }
        }
        int used;
        int written;
        if (_request.IsChunked)
        {
            HttpChunkedStatus status = _chunked.Decode(data, room, out used, out written);
            if (status == HttpChunkedStatus.Error)
            {
                _server.ProtocolErrors++;
                HttpLog.BadRequest(_server.Logger, Id, 400, _chunked.ErrorReason);
                _clientFault = true;
                BodyBroken(400, _chunked.ErrorReason);
                return data.Length;
            }
            _bodyDone = status == HttpChunkedStatus.Done;
        }
        else
        {
            written = used = (int)Math.Min(_bodyRemaining, Math.Min(data.Length, room.Length));
            data[..used].CopyTo(room);
            _bodyRemaining -= used;
            _bodyDone = _bodyRemaining == 0;
        }
        _bodyReceived += written;
        _bodyInput += used;
        if (_bodyReceived > _server.Options.MaxRequestBodySize)
        {
            _server.ProtocolErrors++;
            HttpLog.BadRequest(_server.Logger, Id, 413, "chunked body larger than the limit");
            _clientFault = true;
            BodyBroken(413, "body larger than the limit");
            return data.Length;
        }
        if (_handlerDone)
        {
            _bodyCount = 0;
            if (_bodyDone)
            {
                ReturnBody();
            }
            return used;
        }
        _bodyCount += written;
        if (_readPending && (_bodyCount > 0 || _bodyDone))
        {
            CompleteRead();
        }
        return used;
    }

    /// <summary>The body broke the framing or a limit: answer if the handler has not, else just close.</summary>
    private void BodyBroken(int status, string reason)
    {
        _bodyFailed = true;
        if (_readPending)
        {
            _readPending = false;
            _readCancel.Dispose();
            _read.SetException(new IOException($"The request body was refused ({status}): {reason}."));
        }
        UpdateBodyClock();
        if (_handlerDone)
        {
            // The response went out already; the connection cannot continue.
            _closeAfterOutput = true;
            _state = State.Lingering;
            StartLingering();
            return;
        }
        // The handler may still be running (it will see the failed read); answer for it now and ignore its response.
        _handlerDone = true;
        SendError(status, reason);
    }

    private void FailBody(string reason)
    {
        _bodyFailed = true;
        if (_readPending)
        {
            _readPending = false;
            _readCancel.Dispose();
            _read.SetException(new IOException(reason));
        }
        UpdateBodyClock();
    }

    public ValueTask<ReadOnlyMemory<byte>> ReadBodyAsync(CancellationToken cancellationToken)
    {
        if (_state != State.Active || _handlerDone)
        {
            throw new InvalidOperationException("The body can only be read by the request's handler, before its task completes.");
        }
        if (_readPending)
        {
            throw new InvalidOperationException("Another body read is pending: read one piece at a time.");
        }
        if (_bodyFailed)
        {
            return ValueTask.FromException<ReadOnlyMemory<byte>>(new IOException("The request body did not arrive whole."));
        }
        if (_bodyCount > 0 || _bodyDone)
        {
            return new ValueTask<ReadOnlyMemory<byte>>(TakeBody());
        }
        if (_request.ExpectContinue && !_continueSent)
        {
            // The client waits for this before it sends the body (RFC 9110 10.1.1).
            _continueSent = true;
            Span<byte> target = ReserveOutput(s_continue.Length);
            s_continue.CopyTo(target);
            _outputCount += s_continue.Length;
            Flush();
        }
        if (_peerDone)
        {
            return ValueTask.FromException<ReadOnlyMemory<byte>>(new IOException("The client closed the connection before the whole body arrived."));
        }
        _read.Reset();
        _readPending = true;
        UpdateBodyClock();
        if (cancellationToken.CanBeCanceled)
        {
            _readCancel = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var self = (HttpConnection)state!;
                self._server.Loop.Post(() => self.CancelRead(token));
            }, this);
        }
        // Input may be waiting in the buffer behind a full window.
        _server.Loop.Post(static state => ((HttpConnection)state!).ResumeBody(), this);
        return new ValueTask<ReadOnlyMemory<byte>>(this, _read.Version);
    }

    private void ResumeBody()
    {
        if (_readPending && _state == State.Active)
        {
            RunBuffered();
            Flush();
        }
    }

    private void CancelRead(CancellationToken token)
    {
        if (_readPending)
        {
            _readPending = false;
            _read.SetException(new OperationCanceledException(token));
            UpdateBodyClock();
        }
    }

    private ReadOnlyMemory<byte> TakeBody()
    {
        if (_bodyCount == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }
        // Hand the window out and start a fresh one, so bytes arriving meanwhile do not overwrite what the handler
        // holds; the old window goes back to the pool at the next read or when the request ends.
        ReadOnlyMemory<byte> piece = _body.AsMemory(0, _bodyCount);
        if (_handedOut is not null)
        {
            NetBuffers.Arrays.Return(_handedOut);
        }
        _handedOut = _body;
        _body = null;
        _bodyCount = 0;
        return piece;
    }

    private void CompleteRead()
    {
        _readPending = false;
        _readCancel.Dispose();
        UpdateBodyClock();
        _read.SetResult(TakeBody());
    }

    private void ReturnBody()
    {
        if (_body is not null)
        {
            NetBuffers.Arrays.Return(_body);
            _body = null;
        }
        if (_handedOut is not null)
        {
            NetBuffers.Arrays.Return(_handedOut);
            _handedOut = null;
        }
        _bodyCount = 0;
    }

    ReadOnlyMemory<byte> IValueTaskSource<ReadOnlyMemory<byte>>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadOnlyMemory<byte>>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadOnlyMemory<byte>>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _read.OnCompleted(continuation, state, token, flags);
}
