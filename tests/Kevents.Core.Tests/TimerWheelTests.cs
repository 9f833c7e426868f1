namespace Kevents.Tests;

public sealed class TimerWheelTests
{
    private const long Hour = 3_600_000;
    private const long Day = 24 * Hour;
    private const long Year = 365 * Day;

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(4_095)]
    [InlineData(4_097)]
    [InlineData(262_145)]
    [InlineData(Hour + 7)]
    public void TimerNeverPopsBeforeItsDueTick(long due)
    {
        var wheel = new TimerWheel();
        TimerHandle armed = wheel.Arm(due, 42);

        Assert.False(wheel.TryPopExpired(due - 1, out _, out _));
        Assert.True(wheel.IsArmed(armed));
        Assert.True(wheel.TryPopExpired(due, out TimerHandle popped, out ulong payload));
        Assert.Equal(armed, popped);
        Assert.Equal(42UL, payload);
        Assert.False(wheel.IsArmed(armed));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void TimersDueAtSameTickPopInArmOrder()
    {
        var wheel = new TimerWheel();
        for (ulong i = 0; i < 10; i++)
        {
            wheel.Arm(100, i);
        }

        Assert.Equal([0UL, 1, 2, 3, 4, 5, 6, 7, 8, 9], Drain(wheel, 1_000));
    }

    [Fact]
    public void SameTickArmOrderHoldsWhenTimersCascadeFromHigherLevels()
    {
        // All due at one tick, armed from very different distances: the first ones start in high levels and cascade
        // down, the last go straight into level 0 or even the due list's neighbourhood.
        const long due = 300_000;
        var wheel = new TimerWheel();
        long[] armAt = [0, 0, 200_000, 262_143, 299_000, 299_936, 299_990, 299_999];
        for (int i = 0; i < armAt.Length; i++)
        {
            Assert.False(wheel.TryPopExpired(armAt[i], out _, out _));
            wheel.Arm(due, (ulong)i);
            wheel.Arm(due + 1, 100 + (ulong)i);
        }

        ulong[] expected = [.. Enumerable.Range(0, armAt.Length).Select(i => (ulong)i),
                            .. Enumerable.Range(0, armAt.Length).Select(i => 100 + (ulong)i)];
        Assert.False(wheel.TryPopExpired(due - 1, out _, out _));
        Assert.Equal(expected, Drain(wheel, due + 1));
    }

    [Fact]
    public void SameTickArmOrderHoldsForTimersParkedBeyondTheWheelRange()
    {
        // The wheel spans 2^36 ticks. The first timer is armed one and a half spans out, so it is parked and only
        // reaches its true slot after the second, armed later for the same tick, is already there.
        const long span = 1L << 36;
        const long window = 1L << 30;
        long due = span + (span / 2) + 5;
        var wheel = new TimerWheel();
        wheel.Arm(due, 1);
        Assert.False(wheel.TryPopExpired(span - window, out _, out _));
        wheel.Arm(due, 2);
        wheel.Arm(due - 1, 0);

        Assert.False(wheel.TryPopExpired(due - 2, out _, out _));
        Assert.Equal([0UL], Drain(wheel, due - 1));
        Assert.Equal([1UL, 2], Drain(wheel, due));
    }

    [Fact]
    public void ResetCountsAsAFreshArmForSameTickOrder()
    {
        var wheel = new TimerWheel();
        TimerHandle a = wheel.Arm(50, 1);
        wheel.Arm(50, 2);
        TimerHandle c = wheel.Arm(50, 3);

        Assert.True(wheel.Reset(a, 50));
        Assert.True(wheel.Reset(c, 40));

        Assert.Equal([3UL, 2, 1], Drain(wheel, 50));
    }

    [Fact]
    public void ResetMovesDeadlineLaterAndEarlier()
    {
        var wheel = new TimerWheel();
        TimerHandle late = wheel.Arm(10, 1);
        TimerHandle early = wheel.Arm(10_000, 2);

        Assert.True(wheel.Reset(late, 20_000));
        Assert.True(wheel.Reset(early, 5));

        Assert.False(wheel.TryPopExpired(4, out _, out _));
        Assert.Equal([2UL], Drain(wheel, 19_999));
        Assert.Equal([1UL], Drain(wheel, 20_000));
    }

    [Fact]
    public void TimerResetToALaterDeadlineNeverPopsAtItsOldOne()
    {
        var wheel = new TimerWheel();
        TimerHandle near = wheel.Arm(10, 1);
        TimerHandle far = wheel.Arm(5_000, 2);
        Assert.True(wheel.Reset(near, 70_000));
        Assert.True(wheel.Reset(far, 6_000));

        // The wheel may wake the loop at an old deadline, but has nothing to pop there.
        long now = 0;
        var popped = new List<(long, ulong)>();
        while (wheel.Count > 0)
        {
            long next = wheel.NextDueTick();
            Assert.True(next > now && next <= 70_000);
            now = next;
            while (wheel.TryPopExpired(now, out _, out ulong payload))
            {
                popped.Add((now, payload));
            }
        }

        Assert.Equal([(6_000L, 2UL), (70_000L, 1UL)], popped);
    }

    [Fact]
    public void CancelledTimerNeverPops()
    {
        var wheel = new TimerWheel();
        TimerHandle cancelled = wheel.Arm(100, 1);
        wheel.Arm(100, 2);

        Assert.True(wheel.Cancel(cancelled));
        Assert.False(wheel.Cancel(cancelled));
        Assert.False(wheel.IsArmed(cancelled));

        Assert.Equal([2UL], Drain(wheel, 1_000_000));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void CancellingAnExpiredButUnpoppedTimerPreventsItsPop()
    {
        var wheel = new TimerWheel();
        wheel.Arm(10, 1);
        TimerHandle second = wheel.Arm(10, 2);
        TimerHandle third = wheel.Arm(15, 3);

        Assert.True(wheel.TryPopExpired(20, out _, out ulong first));
        Assert.Equal(1UL, first);
        Assert.True(wheel.IsArmed(second));
        Assert.True(wheel.Cancel(second));
        Assert.True(wheel.Cancel(third));

        Assert.False(wheel.TryPopExpired(20, out _, out _));
        Assert.Equal(0, wheel.Count);
        Assert.Equal(long.MaxValue, wheel.NextDueTick());
    }

    [Fact]
    public void ResettingAnExpiredButUnpoppedTimerDefersIt()
    {
        var wheel = new TimerWheel();
        TimerHandle a = wheel.Arm(10, 1);
        TimerHandle b = wheel.Arm(10, 2);

        Assert.False(wheel.TryPopExpired(9, out _, out _));
        wheel.Arm(11, 3);
        Assert.True(wheel.TryPopExpired(12, out _, out ulong firstPayload)); // b and c wait in the due list
        Assert.Equal(1UL, firstPayload);
        Assert.False(wheel.Reset(a, 30));
        Assert.True(wheel.Reset(b, 30));
        Assert.Equal([3UL], Drain(wheel, 12));
        Assert.Equal([2UL], Drain(wheel, 30));
    }

    [Fact]
    public void TimerArmedInThePastDuringDrainPopsInDeadlineOrder()
    {
        var wheel = new TimerWheel();
        wheel.Arm(5, 1);
        wheel.Arm(10, 2);

        Assert.True(wheel.TryPopExpired(10, out _, out ulong payload));
        Assert.Equal(1UL, payload);

        wheel.Arm(7, 3);   // Due before the waiting timer, so it goes first.
        wheel.Arm(10, 4);  // Same tick as the waiting one, armed later, so it goes after.
        wheel.Arm(2, 5);
        Assert.Equal([5UL, 3, 2, 4], Drain(wheel, 10));
    }

    [Fact]
    public void NowBeforeCurrentTickPopsOnlyWhatIsDueByThen()
    {
        var wheel = new TimerWheel();
        wheel.Arm(100, 1);
        Assert.False(wheel.TryPopExpired(50, out _, out _));
        wheel.Arm(60, 2);
        Assert.False(wheel.TryPopExpired(40, out _, out _));
        Assert.Equal(50, wheel.CurrentTick);
        Assert.Equal([2UL, 1], Drain(wheel, 100));
    }

    [Fact]
    public void StaleHandleIsRejectedAfterItsSlotIsReused()
    {
        var wheel = new TimerWheel(initialCapacity: 1);
        TimerHandle cancelled = wheel.Arm(10, 1);
        Assert.True(wheel.Cancel(cancelled));
        TimerHandle reuser = wheel.Arm(10, 2);

        Assert.NotEqual(cancelled, reuser);
        Assert.False(wheel.IsArmed(cancelled));
        Assert.False(wheel.Cancel(cancelled));
        Assert.False(wheel.Reset(cancelled, 5));
        Assert.True(wheel.IsArmed(reuser));

        Assert.True(wheel.TryPopExpired(10, out TimerHandle popped, out _));
        Assert.Equal(reuser, popped);
        TimerHandle third = wheel.Arm(20, 3);
        Assert.False(wheel.Cancel(popped));
        Assert.False(wheel.Reset(popped, 20));
        Assert.True(wheel.IsArmed(third));
        Assert.Equal(1, wheel.Count);
    }

    [Fact]
    public void DefaultHandleIsNoneAndNeverLive()
    {
        var wheel = new TimerWheel();
        TimerHandle armed = wheel.Arm(1, 0);

        Assert.True(default(TimerHandle).IsNone);
        Assert.False(armed.IsNone);
        Assert.False(wheel.IsArmed(default));
        Assert.False(wheel.Cancel(default));
        Assert.False(wheel.Reset(default, 5));
        Assert.True(wheel.IsArmed(armed));
    }

    [Theory]
    [InlineData(Hour)]
    [InlineData(Day + 1)]
    [InlineData(30 * Day)]
    [InlineData(Year)]
    [InlineData(3 * Year + 12_345)]
    [InlineData(20 * Year)]
    public void FarDeadlinesFireExactlyAtTheirTick(long delay)
    {
        const long start = 1_234_567;
        var wheel = new TimerWheel(start);
        long due = start + delay;
        wheel.Arm(due, 9);
        wheel.Arm(start + 1, 1); // A near neighbour, so the wheel is not simply empty around the far one.

        Assert.Equal([1UL], Drain(wheel, start + 1));
        int steps = 0;
        while (true)
        {
            long next = wheel.NextDueTick();
            Assert.True(next <= due, $"NextDueTick {next} is later than the deadline {due}");
            Assert.True(next > wheel.CurrentTick);
            if (next == due)
            {
                break;
            }

            Assert.False(wheel.TryPopExpired(next, out _, out _));
            Assert.True(++steps < 200, "too many wake-ups on the way to a far deadline");
        }

        Assert.False(wheel.TryPopExpired(due - 1, out _, out _));
        Assert.Equal([9UL], Drain(wheel, due));
    }

    [Fact]
    public void NextDueTickIsExactForNearTimersAndMaxWhenEmpty()
    {
        var wheel = new TimerWheel(1_000);
        Assert.Equal(long.MaxValue, wheel.NextDueTick());

        TimerHandle a = wheel.Arm(1_010, 1);
        wheel.Arm(1_020, 2);
        Assert.Equal(1_010, wheel.NextDueTick());

        Assert.True(wheel.Cancel(a));
        Assert.Equal(1_020, wheel.NextDueTick());

        wheel.Arm(900, 3); // Already due.
        Assert.Equal(900, wheel.NextDueTick());
        Assert.Equal([3UL], Drain(wheel, 1_000));
        Assert.Equal(1_020, wheel.NextDueTick());
    }

    [Fact]
    public void NextDueTickIsNeverLaterThanTheEarliestDeadline()
    {
        var random = new Random(7);
        var wheel = new TimerWheel();
        long earliest = long.MaxValue;
        for (int i = 0; i < 2_000; i++)
        {
            long due = random.NextInt64(1, 1L << random.Next(1, 40));
            wheel.Arm(due, 0);
            earliest = Math.Min(earliest, due);
            Assert.True(wheel.NextDueTick() <= earliest);
        }
    }

    [Fact]
    public void HundredThousandTimersArmedAndCancelledLeaveCountZero()
    {
        var random = new Random(3);
        var wheel = new TimerWheel();
        var handles = new TimerHandle[100_000];
        for (int i = 0; i < handles.Length; i++)
        {
            handles[i] = wheel.Arm(random.NextInt64(0, 10 * Day), (ulong)i);
        }

        Assert.Equal(handles.Length, wheel.Count);
        random.Shuffle(handles);
        foreach (TimerHandle handle in handles)
        {
            Assert.True(wheel.Cancel(handle));
        }

        Assert.Equal(0, wheel.Count);
        Assert.Equal(long.MaxValue, wheel.NextDueTick());
        Assert.False(wheel.TryPopExpired(20 * Day, out _, out _));
    }

    [Fact]
    public void AdvancingOverLargeGapsVisitsOnlyOccupiedSlots()
    {
        var wheel = new TimerWheel();
        Assert.False(wheel.TryPopExpired(10 * Day, out _, out _));
        Assert.Equal(0, wheel.SlotsProcessed);
        Assert.Equal(10 * Day, wheel.CurrentTick);

        long due = wheel.CurrentTick + (10 * Day) + 17;
        wheel.Arm(due, 1);
        Assert.Equal([1UL], Drain(wheel, wheel.CurrentTick + (20 * Day)));

        // One slot per level at most on the way down, not one per tick (864 million of them).
        Assert.InRange(wheel.SlotsProcessed, 1, 6);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void RandomOperationsMatchASortedReferenceModel(int seed)
    {
        var random = new Random(seed);
        long start = random.Next(2) == 0 ? 0 : random.NextInt64(1L << 40);
        var wheel = new TimerWheel(start, initialCapacity: 1);
        var model = new ReferenceModel();
        var retired = new List<TimerHandle>();
        long now = start;

        for (int op = 0; op < 6_000; op++)
        {
            int choice = random.Next(100);
            if (choice < 40)
            {
                long due = PickDue(random, now, model);
                ulong payload = (ulong)op;
                model.Arm(wheel.Arm(due, payload), due, payload);
            }
            else if (choice < 55 && model.Count > 0)
            {
                ModelTimer timer = model.Pick(random);
                long due = PickDue(random, now, model);
                Assert.True(wheel.Reset(timer.Handle, due));
                model.Reset(timer.Handle, due);
            }
            else if (choice < 70 && model.Count > 0)
            {
                ModelTimer timer = model.Pick(random);
                Assert.True(wheel.Cancel(timer.Handle));
                model.Remove(timer.Handle);
                retired.Add(timer.Handle);
            }
            else if (choice < 73 && retired.Count > 0)
            {
                TimerHandle stale = retired[random.Next(retired.Count)];
                Assert.False(wheel.IsArmed(stale));
                Assert.False(wheel.Cancel(stale));
                Assert.False(wheel.Reset(stale, now));
            }
            else
            {
                now += random.Next(5) switch
                {
                    0 => 0,
                    1 => random.Next(1, 64),
                    2 => random.Next(64, 5_000),
                    3 => random.NextInt64(5_000, 1L << 26),
                    _ => model.Count > 0 ? Math.Max(0, model.EarliestDue - now) : 1,
                };
                int budget = random.Next(3) == 0 ? random.Next(4) : int.MaxValue;
                PopAndCompare(wheel, model, retired, now, budget, random);
            }

            Assert.Equal(model.Count, wheel.Count);
            long next = wheel.NextDueTick();
            if (model.Count == 0)
            {
                Assert.Equal(long.MaxValue, next);
            }
            else
            {
                Assert.True(next <= model.EarliestDue, $"op {op}: NextDueTick {next} > earliest {model.EarliestDue}");
            }
        }

        PopAndCompare(wheel, model, retired, long.MaxValue, int.MaxValue, random);
        Assert.Equal(0, wheel.Count);
    }

    private static void PopAndCompare(
        TimerWheel wheel, ReferenceModel model, List<TimerHandle> retired, long now, int budget, Random random)
    {
        for (int popped = 0; popped < budget; popped++)
        {
            ModelTimer? expected = model.NextExpired(now);
            if (!wheel.TryPopExpired(now, out TimerHandle handle, out ulong payload))
            {
                Assert.Null(expected);
                return;
            }

            Assert.NotNull(expected);
            Assert.Equal(expected.Value.Due, model.DueOf(handle));
            Assert.Equal(expected.Value.Handle, handle);
            Assert.Equal(expected.Value.Payload, payload);
            model.Remove(handle);
            retired.Add(handle);

            // The caller may change things between pops, including arming timers that are already due.
            if (random.Next(10) == 0)
            {
                long due = now == long.MaxValue ? now : now - random.Next(0, 100) + random.Next(0, 3);
                model.Arm(wheel.Arm(due, 7), due, 7);
            }
            else if (random.Next(10) == 0 && model.Count > 0)
            {
                ModelTimer victim = model.Pick(random);
                Assert.True(wheel.Cancel(victim.Handle));
                model.Remove(victim.Handle);
            }
        }
    }

    private static long PickDue(Random random, long now, ReferenceModel model) => random.Next(8) switch
    {
        0 => now - random.Next(0, 200),                         // Already due.
        1 => now + random.Next(0, 64),                          // Level 0.
        2 => now + random.Next(0, 5_000),
        3 => now + random.NextInt64(0, 1L << 24),
        4 => now + random.NextInt64(0, 1L << 38),               // Past the top level's range: parked and re-placed.
        5 or 6 when model.Count > 0 => model.Pick(random).Due,  // Share a tick with another timer.
        _ => now + random.Next(0, 300),
    };

    private static ulong[] Drain(TimerWheel wheel, long now)
    {
        var payloads = new List<ulong>();
        while (wheel.TryPopExpired(now, out _, out ulong payload))
        {
            payloads.Add(payload);
        }

        return [.. payloads];
    }

    private readonly record struct ModelTimer(TimerHandle Handle, long Due, long Sequence, ulong Payload);

    /// <summary>The obvious implementation: a list, scanned for the minimum (due, sequence).</summary>
    private sealed class ReferenceModel
    {
        private readonly List<ModelTimer> _timers = [];
        private long _sequence;

        public int Count => _timers.Count;

        public long EarliestDue => _timers.Min(t => t.Due);

        public void Arm(TimerHandle handle, long due, ulong payload) =>
            _timers.Add(new ModelTimer(handle, due, ++_sequence, payload));

        public void Reset(TimerHandle handle, long due)
        {
            int i = _timers.FindIndex(t => t.Handle == handle);
            _timers[i] = _timers[i] with { Due = due, Sequence = ++_sequence };
        }

        public void Remove(TimerHandle handle) => _timers.RemoveAt(_timers.FindIndex(t => t.Handle == handle));

        public long DueOf(TimerHandle handle) => _timers.Find(t => t.Handle == handle).Due;

        public ModelTimer Pick(Random random) => _timers[random.Next(_timers.Count)];

        public ModelTimer? NextExpired(long now)
        {
            ModelTimer? best = null;
            foreach (ModelTimer timer in _timers)
            {
                if (timer.Due <= now && (best is not { } b || (timer.Due, timer.Sequence).CompareTo((b.Due, b.Sequence)) < 0))
                {
                    best = timer;
                }
            }

            return best;
        }
    }
}
