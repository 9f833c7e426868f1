using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kevents.Benchmarks;

/// <summary>
/// Cross-loop <see cref="EventLoop.Post(Action{object?}, object?)"/> inside an <see cref="EventLoopGroup"/> of two
/// loops: a handler on one loop posts <see cref="ItemsPerInvoke"/> items to the other, which runs them; an invocation
/// ends when the last one has run. <see cref="OneWay"/> has loop 0 produce and loop 1 consume; <see cref="BothWays"/>
/// has each loop produce for the other at the same time (each loop also consumes), the shape of loops exchanging
/// work. Times are per item, so items per second is 1e9 / the mean in ns.
/// </summary>
[MemoryDiagnoser]
public class GroupPostBenchmarks
{
    private const int ItemsPerInvoke = 1 << 18;

    private static readonly Action<object?> s_consume = static state =>
    {
        // Runs on the consuming loop's thread only.
        var sink = (Sink)state!;
        if (--sink.Remaining == 0)
        {
            sink.Done.Set();
        }
    };

    private static readonly Action<object?> s_produce = static state =>
    {
        // Runs on the producing loop's thread: every Post crosses to the other loop.
        var (target, sink) = ((EventLoop, Sink))state!;
        for (int i = 0; i < ItemsPerInvoke; i++)
        {
            target.Post(s_consume, sink);
        }
    };

    private EventLoopGroup _group = null!;
    private readonly Sink _toLoop1 = new();
    private readonly Sink _toLoop0 = new();
    private object _oneWay = null!;
    private object _reverse = null!;

    [GlobalSetup]
    public void Setup()
    {
        _group = new EventLoopGroup(new EventLoopGroupOptions { LoopCount = 2, LoggerFactory = NullLoggerFactory.Instance });
        _group.Start();
        _oneWay = (_group.Loops[1], _toLoop1);
        _reverse = (_group.Loops[0], _toLoop0);
    }

    [GlobalCleanup]
    public void Cleanup() => _group.Dispose();

    /// <summary>Loop 0 posts to loop 1.</summary>
    [Benchmark(OperationsPerInvoke = ItemsPerInvoke)]
    public void OneWay()
    {
        Arm(_toLoop1);
        _group.Loops[0].Post(s_produce, _oneWay);
        _toLoop1.Done.Wait();
    }

    /// <summary>Loop 0 posts to loop 1 while loop 1 posts to loop 0.</summary>
    [Benchmark(OperationsPerInvoke = 2 * ItemsPerInvoke)]
    public void BothWays()
    {
        Arm(_toLoop1);
        Arm(_toLoop0);
        _group.Loops[0].Post(s_produce, _oneWay);
        _group.Loops[1].Post(s_produce, _reverse);
        _toLoop1.Done.Wait();
        _toLoop0.Done.Wait();
    }

    private static void Arm(Sink sink)
    {
        sink.Done.Reset();
        sink.Remaining = ItemsPerInvoke;
    }

    private sealed class Sink
    {
        public int Remaining;
        public readonly ManualResetEventSlim Done = new();
    }
}
