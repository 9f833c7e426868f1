using BenchmarkDotNet.Attributes;

namespace Kevents.Benchmarks;

// The timer wheel against System.Threading.Timer, both holding a population of one million idle timeouts (deadlines
// one to five minutes out), which is what a loop with a million idle connections carries. Operations touch timers in
// random order, so cache misses count as they would in a server.

/// <summary>Deadlines and access order shared by the timer benchmarks.</summary>
internal static class TimerPopulation
{
    public const int Size = 1_000_000;
    public const int Batch = 1_024;

    /// <summary>Deadlines in milliseconds, between one and five minutes, so no System.Threading.Timer fires while a
    /// benchmark process runs.</summary>
    public static int[] Deadlines(int count, int seed)
    {
        var random = new Random(seed);
        var deadlines = new int[count];
        for (int i = 0; i < deadlines.Length; i++)
        {
            deadlines[i] = random.Next(60_000, 300_000);
        }

        return deadlines;
    }

    public static int[] Shuffled(int count, int seed)
    {
        int[] order = [.. Enumerable.Range(0, count)];
        new Random(seed).Shuffle(order);
        return order;
    }

    public static void Report(string what, long before, long after) =>
        Console.WriteLine($"// Footprint: {what}: {(after - before) / (double)Size:F1} bytes per live timer");

    public static readonly TimerCallback Noop = static _ => { };
}

/// <summary>Steady-state operations on a population that stays at one million timers.</summary>
[MemoryDiagnoser]
public class TimerSteadyStateBenchmarks
{
    private TimerWheel _wheel = null!;
    private TimerHandle[] _wheelTimers = null!;
    private readonly TimerHandle[] _wheelScratch = new TimerHandle[TimerPopulation.Batch];
    private Timer[] _timers = null!;
    private readonly Timer[] _timerScratch = new Timer[TimerPopulation.Batch];
    private int[] _deadlines = null!;
    private int[] _order = null!;
    private int _cursor;

    [GlobalSetup(Targets = [nameof(WheelArmThenCancel), nameof(WheelReset)])]
    public void SetUpWheel()
    {
        SetUpInputs();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        _wheel = new TimerWheel();
        _wheelTimers = new TimerHandle[TimerPopulation.Size];
        for (int i = 0; i < _wheelTimers.Length; i++)
        {
            _wheelTimers[i] = _wheel.Arm(_deadlines[i], (ulong)i);
        }

        long allocatedAfter = GC.GetAllocatedBytesForCurrentThread();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        // The handle array is the benchmark's, not the wheel's; a loop keeps handles inside its connections.
        long handles = (long)TimerPopulation.Size * 8;
        TimerPopulation.Report("TimerWheel retained", before + handles, after);
        TimerPopulation.Report("TimerWheel allocated while arming (slab growth included)", allocatedBefore + handles, allocatedAfter);
    }

    [GlobalSetup(Targets = [nameof(TimerCreateThenDispose), nameof(TimerChange)])]
    public void SetUpTimers()
    {
        SetUpInputs();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        _timers = new Timer[TimerPopulation.Size];
        for (int i = 0; i < _timers.Length; i++)
        {
            _timers[i] = new Timer(TimerPopulation.Noop, null, _deadlines[i], Timeout.Infinite);
        }

        long allocatedAfter = GC.GetAllocatedBytesForCurrentThread();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        long references = (long)TimerPopulation.Size * 8;
        TimerPopulation.Report("System.Threading.Timer retained", before + references, after);
        TimerPopulation.Report("System.Threading.Timer allocated while creating", allocatedBefore + references, allocatedAfter);
    }

    [GlobalCleanup(Targets = [nameof(TimerCreateThenDispose), nameof(TimerChange)])]
    public void DisposeTimers()
    {
        foreach (Timer timer in _timers)
        {
            timer.Dispose();
        }
    }

    /// <summary>One arm plus one cancel per operation, so the population stays put.</summary>
    [Benchmark(OperationsPerInvoke = TimerPopulation.Batch)]
    public void WheelArmThenCancel()
    {
        int start = NextStart();
        for (int i = 0; i < _wheelScratch.Length; i++)
        {
            _wheelScratch[i] = _wheel.Arm(_deadlines[start + i], 1);
        }

        for (int i = 0; i < _wheelScratch.Length; i++)
        {
            _wheel.Cancel(_wheelScratch[i]);
        }
    }

    [Benchmark(OperationsPerInvoke = TimerPopulation.Batch)]
    public void WheelReset()
    {
        int start = NextStart();
        for (int i = 0; i < TimerPopulation.Batch; i++)
        {
            int victim = _order[start + i];
            _wheel.Reset(_wheelTimers[victim], _deadlines[start + i]);
        }
    }

    /// <summary>One create plus one dispose per operation, so the population stays put.</summary>
    [Benchmark(OperationsPerInvoke = TimerPopulation.Batch)]
    public void TimerCreateThenDispose()
    {
        int start = NextStart();
        for (int i = 0; i < _timerScratch.Length; i++)
        {
            _timerScratch[i] = new Timer(TimerPopulation.Noop, null, _deadlines[start + i], Timeout.Infinite);
        }

        for (int i = 0; i < _timerScratch.Length; i++)
        {
            _timerScratch[i].Dispose();
        }
    }

    [Benchmark(OperationsPerInvoke = TimerPopulation.Batch)]
    public void TimerChange()
    {
        int start = NextStart();
        for (int i = 0; i < TimerPopulation.Batch; i++)
        {
            _timers[_order[start + i]].Change(_deadlines[start + i], Timeout.Infinite);
        }
    }

    private void SetUpInputs()
    {
        _deadlines = TimerPopulation.Deadlines(TimerPopulation.Size, seed: 1);
        _order = TimerPopulation.Shuffled(TimerPopulation.Size, seed: 2);
    }

    private int NextStart()
    {
        int start = _cursor;
        _cursor += TimerPopulation.Batch;
        if (_cursor + TimerPopulation.Batch > TimerPopulation.Size)
        {
            _cursor = 0;
        }

        return start;
    }
}

/// <summary>
/// Arm and cancel measured apart: each iteration is one invocation that arms (or cancels) a large batch on top of
/// the million, and the iteration setup or cleanup restores the population outside the timed region.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class TimerArmCancelBenchmarks
{
    private const int Operations = 200_000;

    private TimerWheel _wheel = null!;
    private Timer[] _timers = null!;
    private readonly TimerHandle[] _wheelBatch = new TimerHandle[Operations];
    private readonly Timer[] _timerBatch = new Timer[Operations];
    private int[] _deadlines = null!;

    [GlobalSetup(Targets = [nameof(WheelArm), nameof(WheelCancel)])]
    public void SetUpWheel()
    {
        _deadlines = TimerPopulation.Deadlines(TimerPopulation.Size, seed: 1);
        _wheel = new TimerWheel();
        for (int i = 0; i < TimerPopulation.Size; i++)
        {
            _wheel.Arm(_deadlines[i], (ulong)i);
        }

        // Grow the slab past the peak now, so WheelArm measures arming rather than a one-off array copy.
        for (int i = 0; i < Operations; i++)
        {
            _wheelBatch[i] = _wheel.Arm(_deadlines[i], 0);
        }

        CancelWheelBatch();
    }

    [GlobalSetup(Targets = [nameof(TimerCreate), nameof(TimerDispose)])]
    public void SetUpTimers()
    {
        _deadlines = TimerPopulation.Deadlines(TimerPopulation.Size, seed: 1);
        _timers = new Timer[TimerPopulation.Size];
        for (int i = 0; i < _timers.Length; i++)
        {
            _timers[i] = new Timer(TimerPopulation.Noop, null, _deadlines[i], Timeout.Infinite);
        }
    }

    [GlobalCleanup(Targets = [nameof(TimerCreate), nameof(TimerDispose)])]
    public void DisposeTimers()
    {
        foreach (Timer timer in _timers)
        {
            timer.Dispose();
        }
    }

    [IterationCleanup(Target = nameof(WheelArm))]
    public void CancelWheelBatch()
    {
        foreach (TimerHandle handle in _wheelBatch)
        {
            _wheel.Cancel(handle);
        }
    }

    [IterationSetup(Target = nameof(WheelCancel))]
    public void ArmWheelBatch()
    {
        // Shuffle which timers get cancelled: arm in one order, cancel in another.
        for (int i = 0; i < Operations; i++)
        {
            _wheelBatch[i] = _wheel.Arm(_deadlines[i], 0);
        }

        new Random(3).Shuffle(_wheelBatch);
    }

    [IterationCleanup(Target = nameof(TimerCreate))]
    public void DisposeTimerBatch()
    {
        foreach (Timer timer in _timerBatch)
        {
            timer.Dispose();
        }
    }

    [IterationSetup(Target = nameof(TimerDispose))]
    public void CreateTimerBatch()
    {
        for (int i = 0; i < Operations; i++)
        {
            _timerBatch[i] = new Timer(TimerPopulation.Noop, null, _deadlines[i], Timeout.Infinite);
        }

        new Random(3).Shuffle(_timerBatch);
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void WheelArm()
    {
        for (int i = 0; i < _wheelBatch.Length; i++)
        {
            _wheelBatch[i] = _wheel.Arm(_deadlines[i], 1);
        }
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void WheelCancel()
    {
        for (int i = 0; i < _wheelBatch.Length; i++)
        {
            _wheel.Cancel(_wheelBatch[i]);
        }
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void TimerCreate()
    {
        for (int i = 0; i < _timerBatch.Length; i++)
        {
            _timerBatch[i] = new Timer(TimerPopulation.Noop, null, _deadlines[i], Timeout.Infinite);
        }
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void TimerDispose()
    {
        for (int i = 0; i < _timerBatch.Length; i++)
        {
            _timerBatch[i].Dispose();
        }
    }
}
