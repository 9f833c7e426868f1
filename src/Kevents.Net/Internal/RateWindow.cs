namespace Kevents.Net.Internal;

/// <summary>The verdict of <see cref="RateWindow.Judge"/>.</summary>
internal enum RateVerdict
{
    /// <summary>The window has not run its length yet: nothing judged.</summary>
    NotYet,

    /// <summary>The window ended at or above the minimum; the next one has started.</summary>
    Enough,

    /// <summary>The window ended below the minimum.</summary>
    TooSlow,
}

/// <summary>
/// One measurement window of a minimum data rate (the minimum response rate of Connection.DataRate.cs, the minimum
/// request-body rate of Kevents.Http): a count of bytes at the window's start and the time the window has run. The
/// clock can pause, for a measurement that must not count time in which the other side could not have made progress
/// (Kevents.Http pauses it while the application is not reading the body). The owner keeps its own timer and calls
/// <see cref="Judge"/> when it fires; nothing is done per byte. A plain mutable struct: keep it in a field and call
/// it through that field.
/// </summary>
internal struct RateWindow
{
    private long _runningSinceNs; // when the clock last (re)started; meaningful while Running
    private long _elapsedBeforeNs; // time the window ran before that
    private long _startCount;

    /// <summary>The clock is running.</summary>
    public bool Running { get; private set; }

    /// <summary>Starts a new window now, with the clock running and <paramref name="count"/> bytes so far.</summary>
    public void Start(long nowNs, long count)
    {
        _runningSinceNs = nowNs;
        _elapsedBeforeNs = 0;
        _startCount = count;
        Running = true;
    }

    /// <summary>Starts a new window with the clock stopped (it runs from the next <see cref="Resume"/>).</summary>
    public void StartPaused(long count)
    {
        _elapsedBeforeNs = 0;
        _startCount = count;
        Running = false;
    }

    /// <summary>Stops the clock; the time run so far is kept.</summary>
    public void Pause(long nowNs)
    {
        if (Running)
        {
            _elapsedBeforeNs += nowNs - _runningSinceNs;
            Running = false;
        }
    }

    /// <summary>Ends the window: the clock stops and the next <see cref="Start"/> begins afresh.</summary>
    public void Stop() => Running = false;

    /// <summary>Restarts a paused clock.</summary>
    public void Resume(long nowNs)
    {
        if (!Running)
        {
            _runningSinceNs = nowNs;
            Running = true;
        }
    }

    /// <summary>How long the window has run (paused time excluded).</summary>
    public readonly long ElapsedNs(long nowNs) => _elapsedBeforeNs + (Running ? nowNs - _runningSinceNs : 0);

    /// <summary>When a window of <paramref name="windowNs"/> ends if the clock keeps running; <see cref="Durations.Never"/> while paused.</summary>
    public readonly long EndsAtNs(long nowNs, long windowNs) =>
        Running ? Durations.After(nowNs, Math.Max(0, windowNs - ElapsedNs(nowNs))) : Durations.Never;

    /// <summary>
    /// Judges the window if it has run <paramref name="windowNs"/>: the bytes counted since its start
    /// (<paramref name="count"/> minus the count at the start) over the time it ran, against <paramref name="minimum"/>
    /// bytes per second. Enough starts the next window at <paramref name="nowNs"/>.
    /// </summary>
    public RateVerdict Judge(long nowNs, long count, long windowNs, double minimum, out double rate, out long elapsedNs)
    {
        elapsedNs = ElapsedNs(nowNs);
        rate = 0;
        if (elapsedNs < windowNs || elapsedNs <= 0)
        {
            return RateVerdict.NotYet;
        }
        rate = (count - _startCount) * 1e9 / elapsedNs;
        if (rate < minimum)
        {
            return RateVerdict.TooSlow;
        }
        _startCount = count;
        _elapsedBeforeNs = 0;
        _runningSinceNs = nowNs;
        return RateVerdict.Enough;
    }
}
