using System.Diagnostics.Metrics;
using System.Reflection;
using Kevents.Internal;

namespace Kevents;

/// <summary>
/// The one <see cref="System.Diagnostics.Metrics.Meter"/> every Kevents layer publishes its instruments on, and the
/// registry of live loops those instruments report. Listen with <c>.AddMeter("Kevents")</c> (OpenTelemetry),
/// <c>dotnet-counters monitor --counters Kevents</c>, or a <see cref="MeterListener"/>; the README lists every
/// instrument.
/// </summary>
/// <remarks>
/// <para><b>Cost.</b> Loops and layers count in plain fields that only the loop thread writes; the instruments are
/// observable, so the fields are read only when a listener collects. With nobody listening nothing is read and
/// nothing is recorded. The one instrument recorded on the loop thread, <c>kevents.loop.lag</c>, is recorded only
/// while some listener has it enabled, and then once per loop turn.</para>
/// <para><b>Lifetime.</b> A loop joins the registry when it is constructed and leaves it when it is disposed (a loop
/// dropped without <see cref="EventLoop.Dispose"/> is held weakly and leaves when it is collected), so an instrument
/// never reports a disposed loop and never keeps one alive.</para>
/// <para><b>A layer of your own</b> keeps its counters in a per-loop feature
/// (<see cref="EventLoop.GetOrAddFeature{T}"/>) and creates its observable instruments once, on <see cref="Meter"/>,
/// with callbacks built on <see cref="Observe{TFeature, TValue}(Func{TFeature, TValue})"/>: one measurement per live
/// loop that has the feature, tagged <c>kevents.loop</c>.</para>
/// </remarks>
public static class KeventsMeter
{
    /// <summary>The meter's name: <c>Kevents</c>.</summary>
    public const string Name = "Kevents";

    /// <summary>The tag every Kevents measurement carries: the loop's <see cref="EventLoop.Name"/>.</summary>
    public const string LoopTagName = "kevents.loop";

    private static readonly object s_gate = new();
    // Copy-on-write under s_gate; collection callbacks read a complete array without the lock.
    private static WeakReference<EventLoop>[] s_loops = [];

    /// <summary>The process's one <c>Kevents</c> meter; its version is the Kevents.Core assembly's.</summary>
    public static Meter Meter { get; } = new(Name, typeof(KeventsMeter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(KeventsMeter).Assembly.GetName().Version?.ToString());

    /// <summary>
    /// One measurement per live (not disposed) loop that has a feature of type <typeparamref name="TFeature"/>: the
    /// value <paramref name="read"/> returns for it, tagged <c>kevents.loop</c>. Meant as the callback of an observable
    /// instrument: <c>Meter.CreateObservableCounter("my.layer.items", () =&gt; KeventsMeter.Observe&lt;MyFeature, long&gt;(f =&gt; f.Items))</c>.
    /// </summary>
    /// <remarks><paramref name="read"/> runs on the collecting thread, not the loop thread: read fields the loop thread
    /// writes (a <see langword="long"/> read is tear-free on 64-bit), never structures it may be changing.</remarks>
    /// <param name="read">Reads the feature's value.</param>
    public static IEnumerable<Measurement<TValue>> Observe<TFeature, TValue>(Func<TFeature, TValue> read)
        where TFeature : class
        where TValue : struct
    {
        ArgumentNullException.ThrowIfNull(read);
        return ObserveCore(read);

        static IEnumerable<Measurement<TValue>> ObserveCore(Func<TFeature, TValue> read)
        {
            foreach (EventLoop loop in LiveLoops())
            {
                if (loop.TryGetFeature(out TFeature? feature))
                {
                    yield return new Measurement<TValue>(read(feature), loop.MetricsTag);
                }
            }
        }
    }

    /// <summary>
    /// Like <see cref="Observe{TFeature, TValue}(Func{TFeature, TValue})"/>, for instruments with more tags than the
    /// loop's: <paramref name="measure"/> receives each live loop's feature and its <c>kevents.loop</c> tag and returns
    /// that loop's measurements (each should carry the tag it was given).
    /// </summary>
    /// <param name="measure">Returns one loop's measurements.</param>
    public static IEnumerable<Measurement<TValue>> Observe<TFeature, TValue>(Func<TFeature, KeyValuePair<string, object?>, IEnumerable<Measurement<TValue>>> measure)
        where TFeature : class
        where TValue : struct
    {
        ArgumentNullException.ThrowIfNull(measure);
        return ObserveCore(measure);

        static IEnumerable<Measurement<TValue>> ObserveCore(Func<TFeature, KeyValuePair<string, object?>, IEnumerable<Measurement<TValue>>> measure)
        {
            foreach (EventLoop loop in LiveLoops())
            {
                if (loop.TryGetFeature(out TFeature? feature))
                {
                    foreach (Measurement<TValue> measurement in measure(feature, loop.MetricsTag))
                    {
                        yield return measurement;
                    }
                }
            }
        }
    }

    /// <summary>The loops constructed and not yet disposed (nor collected), oldest first. Any thread.</summary>
    internal static List<EventLoop> LiveLoops()
    {
        WeakReference<EventLoop>[] loops = Volatile.Read(ref s_loops);
        var live = new List<EventLoop>(loops.Length);
        bool dead = false;
        foreach (WeakReference<EventLoop> weak in loops)
        {
            if (weak.TryGetTarget(out EventLoop? loop))
            {
                live.Add(loop);
            }
            else
            {
                dead = true;
            }
        }
        if (dead)
        {
            Prune();
        }
        return live;
    }

    internal static void Add(EventLoop loop)
    {
        LoopInstruments.EnsureCreated();
        lock (s_gate)
        {
            WeakReference<EventLoop>[] current = s_loops;
            var grown = new WeakReference<EventLoop>[current.Length + 1];
            current.CopyTo(grown, 0);
            grown[^1] = new WeakReference<EventLoop>(loop);
            Volatile.Write(ref s_loops, grown);
        }
    }

    internal static void Remove(EventLoop loop)
    {
        lock (s_gate)
        {
            Volatile.Write(ref s_loops, Array.FindAll(s_loops, w => w.TryGetTarget(out EventLoop? l) && l != loop));
        }
    }

    /// <summary>The number of loops in the registry, dead weak references included (tests check it shrinks).</summary>
    internal static int RegisteredCount => Volatile.Read(ref s_loops).Length;

    private static void Prune()
    {
        lock (s_gate)
        {
            Volatile.Write(ref s_loops, Array.FindAll(s_loops, w => w.TryGetTarget(out _)));
        }
    }
}
