using System.Buffers;

namespace Kevents.Net.Internal;

/// <summary>
/// One buffer of a <see cref="PipeConnection"/>'s input or output: a pooled array, the bytes written into it so far
/// (<see cref="End"/>) and its place in the chain (<see cref="ReadOnlySequenceSegment{T}.RunningIndex"/>), so a run of
/// segments reads as one <see cref="ReadOnlySequence{T}"/>.
/// </summary>
internal sealed class PipeSegment : ReadOnlySequenceSegment<byte>
{
    private byte[]? _array;
    private IMemoryOwner<byte>? _owner;
    private Memory<byte> _buffer;

    /// <summary>Bytes written into the segment; <see cref="ReadOnlySequenceSegment{T}.Memory"/> shows exactly these.</summary>
    public int End { get; private set; }

    /// <summary>Room left after <see cref="End"/>.</summary>
    public int Available => _buffer.Length - End;

    /// <summary>The free part of the buffer.</summary>
    public Memory<byte> Writable => _buffer[End..];

    /// <summary>The buffer's whole size (0 while the segment holds none).</summary>
    public int Capacity => _buffer.Length;

    public PipeSegment? NextSegment => (PipeSegment?)Next;

    public bool HasBuffer => _array is not null || _owner is not null;

    /// <summary>
    /// Takes a buffer of at least <paramref name="size"/> bytes. The shared pool is used through its arrays directly:
    /// its <see cref="MemoryPool{T}.Rent"/> allocates an owner object per call, which would cost an allocation per message.
    /// </summary>
    public void TakeBuffer(int size)
    {
        MemoryPool<byte> pool = NetBuffers.Segments;
        if (ReferenceEquals(pool, MemoryPool<byte>.Shared))
        {
            _array = ArrayPool<byte>.Shared.Rent(size);
            _buffer = _array;
        }
        else
        {
            _owner = pool.Rent(size);
            _buffer = _owner.Memory;
        }
    }

    /// <summary>Starts the segment at <paramref name="runningIndex"/> in its chain, empty.</summary>
    public void Begin(long runningIndex)
    {
        RunningIndex = runningIndex;
        End = 0;
        Memory = default;
        Next = null;
    }

    public void Advance(int bytes)
    {
        End += bytes;
        Memory = _buffer[..End];
    }

    public void SetNext(PipeSegment next) => Next = next;

    /// <summary>Unlinks the segment, keeping its buffer (for the loop's cache).</summary>
    public void Unlink()
    {
        Next = null;
        Memory = default;
        End = 0;
    }

    /// <summary>Gives the buffer back to its pool.</summary>
    public void ReleaseBuffer()
    {
        if (_array is { } array)
        {
            _array = null;
            ArrayPool<byte>.Shared.Return(array);
        }
        if (_owner is { } owner)
        {
            _owner = null;
            owner.Dispose();
        }
        _buffer = default;
        Unlink();
    }
}

/// <summary>
/// The segments and chains of one loop's pipe connections. A connection takes them when bytes arrive or are written
/// and gives them back as soon as everything is consumed, so an idle connection holds none. Loop thread only for the
/// cache; from any other thread segments and chains are made fresh and dropped (the application may write from
/// another thread, rarely).
/// </summary>
/// <remarks>
/// Standard-size segments keep their array while cached, but only with the shared pool: a test's counting pool must
/// see every buffer come back when the connection is done with it, so with such a pool the array goes back at once.
/// </remarks>
internal sealed class PipePools(EventLoop loop)
{
    /// <summary>The size of an ordinary segment: one read from the socket.</summary>
    public const int SegmentSize = 4096;

    private const int MaxCachedSegments = 64;
    private const int MaxCachedChains = 256;

    private readonly Stack<PipeSegment> _segments = new();
    private readonly Stack<SegmentChain> _chains = new();

    public PipeSegment TakeSegment(int sizeHint, long runningIndex)
    {
        int size = Math.Max(sizeHint, SegmentSize);
        PipeSegment? segment = null;
        if (loop.IsOnLoopThread && _segments.TryPop(out segment))
        {
            if (segment.HasBuffer && segment.Capacity < size)
            {
                segment.ReleaseBuffer();
            }
        }
        segment ??= new PipeSegment();
        if (!segment.HasBuffer)
        {
            segment.TakeBuffer(size);
        }
        segment.Begin(runningIndex);
        return segment;
    }

    public void ReturnSegment(PipeSegment segment)
    {
        bool cache = loop.IsOnLoopThread && _segments.Count < MaxCachedSegments;
        if (cache && segment.Capacity == SegmentSize && ReferenceEquals(NetBuffers.Segments, MemoryPool<byte>.Shared))
        {
            segment.Unlink();
        }
        else
        {
            segment.ReleaseBuffer();
        }
        if (cache)
        {
            _segments.Push(segment);
        }
    }

    public SegmentChain TakeChain() =>
        loop.IsOnLoopThread && _chains.TryPop(out SegmentChain? chain) ? chain : new SegmentChain();

    public void ReturnChain(SegmentChain chain)
    {
        if (loop.IsOnLoopThread && _chains.Count < MaxCachedChains)
        {
            _chains.Push(chain);
        }
    }

    /// <summary>Detaches the chain in <paramref name="field"/> (a reader's or writer's) and returns it; its segments must be gone.</summary>
    public void ReturnChain(ref SegmentChain? field)
    {
        SegmentChain chain = field!;
        field = null;
        ReturnChain(chain);
    }

    /// <summary>Gives back every segment of the chain in <paramref name="field"/>, if there is one, then the chain itself.</summary>
    public void ReleaseChain(ref SegmentChain? field)
    {
        if (field is { } chain)
        {
            chain.ReleaseAll(this);
            ReturnChain(ref field);
        }
    }

    /// <summary>Gives every cached array back (the loop is being disposed).</summary>
    public void Clear()
    {
        while (_segments.TryPop(out PipeSegment? segment))
        {
            segment.ReleaseBuffer();
        }
        _chains.Clear();
    }
}

/// <summary>
/// The bytes of one direction of a <see cref="PipeConnection"/> while there are any: written at the tail, made
/// visible to the reader by <see cref="Commit"/>, consumed from the head. Positions are absolute byte counts within
/// the chain (segments carry them as their running index). Not thread-safe: its owner locks.
/// </summary>
internal sealed class SegmentChain
{
    private PipeSegment? _head;
    private int _headIndex;
    private PipeSegment? _tail;
    private PipeSegment? _committedSegment;
    private int _committedIndex;

    /// <summary>Absolute position of the first unconsumed byte.</summary>
    public long Consumed { get; private set; }

    /// <summary>Absolute end of what the reader may see.</summary>
    public long Committed { get; private set; }

    /// <summary>Absolute end of what was written (committed or not).</summary>
    public long Written { get; private set; }

    /// <summary>Absolute position up to which the reader has looked (it waits for bytes beyond it).</summary>
    public long Examined { get; set; }

    public long Unconsumed => Committed - Consumed;

    public long Unflushed => Written - Committed;

    /// <summary>True when no segment is held.</summary>
    public bool IsEmpty => _head is null;

    public Memory<byte> GetMemory(int sizeHint, PipePools pools)
    {
        if (sizeHint < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(sizeHint), sizeHint, "The size hint must not be negative.");
        }
        int needed = Math.Max(sizeHint, 1);
        if (_tail is { } tail && tail.Available >= needed)
        {
            return tail.Writable;
        }
        PipeSegment segment = pools.TakeSegment(needed, Written);
        if (_tail is null)
        {
            _head = segment;
            _headIndex = 0;
        }
        else
        {
            _tail.SetNext(segment);
        }
        _tail = segment;
        return segment.Writable;
    }

    public void Advance(int bytes)
    {
        if (bytes == 0)
        {
            return;
        }
        if (bytes < 0 || _tail is null || bytes > _tail.Available)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "Advance by at most the size of the memory the last GetMemory or GetSpan returned.");
        }
        _tail.Advance(bytes);
        Written += bytes;
    }

    /// <summary>Makes everything written visible to the reader.</summary>
    public void Commit()
    {
        if (Written != Committed)
        {
            _committedSegment = _tail;
            _committedIndex = _tail!.End;
            Committed = Written;
        }
    }

    /// <summary>What the reader may see: from the head to the committed end.</summary>
    public ReadOnlySequence<byte> Readable() =>
        Committed == Consumed ? default : new ReadOnlySequence<byte>(_head!, _headIndex, _committedSegment!, _committedIndex);

    /// <summary>The absolute position of <paramref name="position"/>, checked to lie within what the reader may see.</summary>
    public long AbsoluteOf(SequencePosition position)
    {
        object? segment = position.GetObject();
        if (segment is null)
        {
            return Consumed;
        }
        long absolute = segment is PipeSegment s
            ? s.RunningIndex + position.GetInteger()
            : throw new InvalidOperationException("The position does not belong to this connection's buffer: pass a position of the last ReadResult's Buffer.");
        if (absolute < Consumed || absolute > Committed)
        {
            throw new InvalidOperationException("The position is outside the unconsumed buffer: pass a position of the last ReadResult's Buffer, at or after what was consumed before.");
        }
        return absolute;
    }

    /// <summary>
    /// Consumes up to <paramref name="position"/> (already checked by <see cref="AbsoluteOf"/>) and gives back every
    /// segment before it. With <paramref name="writerActive"/> false, an all-consumed chain gives back its last segment too.
    /// </summary>
    public void ConsumeTo(SequencePosition position, long absolute, PipePools pools, bool writerActive)
    {
        if (position.GetObject() is PipeSegment segment && absolute > Consumed)
        {
            while (_head != segment)
            {
                PipeSegment done = _head!;
                _head = done.NextSegment ?? throw new InvalidOperationException("The position does not belong to the unconsumed buffer.");
                pools.ReturnSegment(done);
            }
            _headIndex = position.GetInteger();
            Consumed = absolute;
        }
        Trim(pools, writerActive);
    }

    /// <summary>Consumes <paramref name="bytes"/> committed bytes (the transport's sends).</summary>
    public void ConsumeBytes(long bytes, PipePools pools, bool writerActive)
    {
        if (bytes <= 0)
        {
            return;
        }
        ReadOnlySequence<byte> readable = Readable();
        SequencePosition position = readable.GetPosition(bytes);
        ConsumeTo(position, Consumed + bytes, pools, writerActive);
    }

    private void Trim(PipePools pools, bool writerActive)
    {
        while (_head is not null && _head != _tail && _headIndex == _head.End)
        {
            PipeSegment done = _head;
            _head = done.NextSegment;
            _headIndex = 0;
            pools.ReturnSegment(done);
        }
        if (_head is not null && _head == _tail && _headIndex == _head.End && !writerActive)
        {
            ReleaseAll(pools);
        }
    }

    /// <summary>Gives every segment back and starts over at position 0 (nothing may refer to the old positions).</summary>
    public void ReleaseAll(PipePools pools)
    {
        PipeSegment? segment = _head;
        while (segment is not null)
        {
            PipeSegment? next = segment.NextSegment;
            pools.ReturnSegment(segment);
            segment = next;
        }
        _head = _tail = _committedSegment = null;
        _headIndex = _committedIndex = 0;
        Consumed = Committed = Written = Examined = 0;
    }
}

/// <summary>The rarely used part of a pipe end's wait: the transport's error, a cancellable wait, a flowing context, a flush waiting for room.</summary>
/// <summary>
/// The reader's or writer's rarely used state, made on first use: a struct field of one reference, so an idle
/// connection's reader and writer carry 8 bytes for it. Setting a default value before the state exists makes nothing.
/// Held in a field and never copied.
/// </summary>
internal struct RareWaitState
{
    private PipeWaitState? _state;

    public PipeWaitState State => _state ??= new PipeWaitState();

    public Exception? Error
    {
        readonly get => _state?.Error;
        set { if (value is not null || _state is not null) State.Error = value; }
    }

    public ExecutionContext? Context
    {
        readonly get => _state?.Context;
        set { if (value is not null || _state is not null) State.Context = value; }
    }

    public CancellationTokenRegistration Registration
    {
        readonly get => _state?.Registration ?? default;
        set { if (_state is not null || !value.Equals(default)) State.Registration = value; }
    }

    public CancellationToken Token
    {
        readonly get => _state?.Token ?? default;
        set { if (_state is not null || value.CanBeCanceled) State.Token = value; }
    }
}

internal sealed class PipeWaitState
{
    public Exception? Error;
    public ExecutionContext? Context;
    public CancellationTokenRegistration Registration;
    public CancellationToken Token;

    // Output's waiting flush (Input keeps its waiting read's continuation inline: an idle reader always has one).
    public Action<object?>? Continuation;
    public object? ContinuationState;
}
