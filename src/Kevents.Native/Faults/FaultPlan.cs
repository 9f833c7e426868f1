namespace Kevents.Native;

/// <summary>
/// Which faults to inject, where and how often: per <see cref="FaultSite"/>, errnos each with a probability (and an
/// optional budget), and a probability of a short transfer. Arm it with <see cref="FaultInjection.Arm"/>.
/// </summary>
/// <remarks>
/// Decisions come from a per-thread random source seeded from <see cref="Seed"/>, so a single-threaded run repeats.
/// <see cref="Injected"/> counts what actually fired, so a test can prove its faults happened.
/// </remarks>
internal sealed class FaultPlan
{
    private readonly Rule[] _rules = new Rule[Enum.GetValues<FaultSite>().Length];
    private readonly long[] _injected = new long[Enum.GetValues<FaultSite>().Length];
    private readonly ThreadLocal<Random> _random;

    /// <summary>A plan with nothing in it yet, drawing from <paramref name="seed"/>.</summary>
    public FaultPlan(int seed = 1)
    {
        Seed = seed;
        _random = new ThreadLocal<Random>(() => new Random(HashCode.Combine(seed, Environment.CurrentManagedThreadId)));
    }

    /// <summary>The seed behind every decision.</summary>
    public int Seed { get; }

    /// <summary>
    /// Only descriptors this accepts are faulted (default: all). Tests use it to spare descriptors whose failure would
    /// test nothing, such as the pipes of a test's own harness.
    /// </summary>
    public Func<int, bool>? Descriptors { get; init; }

    /// <summary>Fails calls at <paramref name="site"/> with <paramref name="errno"/> at <paramref name="probability"/>, at most <paramref name="budget"/> times.</summary>
    public FaultPlan Fail(FaultSite site, int errno, double probability, long budget = long.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(errno);
        ArgumentOutOfRangeException.ThrowIfNegative(probability);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(probability, 1.0);
        Rule rule = RuleFor(site);
        lock (rule)
        {
            rule.Errors = [.. rule.Errors, new ErrorRule(errno, probability, budget)];
        }
        return this;
    }

    /// <summary>Makes reads and writes at <paramref name="site"/> move fewer bytes than asked at <paramref name="probability"/> (at least one).</summary>
    public FaultPlan Shorten(FaultSite site, double probability)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(probability);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(probability, 1.0);
        RuleFor(site).ShortProbability = probability;
        return this;
    }

    /// <summary>How many faults (failures and short transfers) fired at <paramref name="site"/>.</summary>
    public long Injected(FaultSite site) => Interlocked.Read(ref _injected[(int)site]);

    internal bool TryFail(FaultSite site, int fd, out int errno)
    {
        errno = 0;
        Rule? rule = _rules[(int)site];
        if (rule is null || (Descriptors is { } only && !only(fd)))
        {
            return false;
        }
        ErrorRule[] errors = rule.Errors;
        if (errors.Length == 0)
        {
            return false;
        }
        double draw = _random.Value!.NextDouble();
        foreach (ErrorRule error in errors)
        {
            if (draw < error.Probability)
            {
                if (error.TakeOne())
                {
                    errno = error.Errno;
                    Interlocked.Increment(ref _injected[(int)site]);
                    return true;
                }
                return false;
            }
            draw -= error.Probability;
        }
        return false;
    }

    internal int Shorten(FaultSite site, int fd, int length)
    {
        Rule? rule = _rules[(int)site];
        if (rule is null || rule.ShortProbability == 0 || (Descriptors is { } only && !only(fd)))
        {
            return length;
        }
        Random random = _random.Value!;
        if (random.NextDouble() >= rule.ShortProbability)
        {
            return length;
        }
        Interlocked.Increment(ref _injected[(int)site]);
        return random.Next(1, length);
    }

    private Rule RuleFor(FaultSite site)
    {
        Rule? rule = _rules[(int)site];
        if (rule is null)
        {
            rule = new Rule();
            _rules[(int)site] = rule;
        }
        return rule;
    }

    private sealed class Rule
    {
        public volatile ErrorRule[] Errors = [];
        public double ShortProbability;
    }

    private sealed class ErrorRule(int errno, double probability, long budget)
    {
        private long _left = budget;

        public int Errno { get; } = errno;

        public double Probability { get; } = probability;

        public bool TakeOne() => Interlocked.Decrement(ref _left) >= 0;
    }
}
