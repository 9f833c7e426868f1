namespace Kevents;

/// <summary>
/// Names one timer armed in a <see cref="TimerWheel"/>: the slab index of its record and the generation that
/// record had when the timer was armed. A handle outlives its timer harmlessly: once the timer fires or is
/// cancelled the record's generation moves on, so the wheel rejects the old handle even after the slot is reused.
/// </summary>
/// <remarks><c>default(TimerHandle)</c> never names a live timer; <see cref="IsNone"/> is true for it.</remarks>
internal readonly record struct TimerHandle
{
    // Bits 0..31 hold the slab index plus one (so that zero means "no timer"), bits 32..63 the generation.
    private readonly ulong _value;

    internal TimerHandle(int index, uint generation)
    {
        _value = ((ulong)generation << 32) | (uint)(index + 1);
    }

    /// <summary>True for <c>default(TimerHandle)</c>, which names no timer.</summary>
    public bool IsNone => _value == 0;

    /// <summary>The slab index of the timer record; -1 for <c>default</c>.</summary>
    internal int Index => (int)(uint)_value - 1;

    /// <summary>The generation the record had when the timer was armed.</summary>
    internal uint Generation => (uint)(_value >> 32);

    /// <inheritdoc/>
    public override string ToString() => IsNone ? "TimerHandle(none)" : $"TimerHandle({Index}#{Generation})";
}
