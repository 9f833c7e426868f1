using System.Diagnostics;
using System.Runtime.CompilerServices;
using CsCheck;
using Kevents.Internal;

namespace Kevents.Tests;

public class MpscRingTests
{
    // Generous: a healthy run of the largest test takes well under a second.
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(60);

    private readonly record struct Item(int Producer, int Sequence);

    private sealed class Payload;

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(1000, 1024)]
    [InlineData(1024, 1024)]
    public void CapacityIsRoundedUpToPowerOfTwoOfAtLeastTwo(int requested, int expected)
    {
        Assert.Equal(expected, new MpscRing<int>(requested).Capacity);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void NonPositiveCapacityIsRejected(int capacity)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MpscRing<int>(capacity));
    }

    [Fact]
    public void NewRingIsEmptyAndDequeueReturnsFalse()
    {
        var ring = new MpscRing<int>(4);

        Assert.True(ring.IsEmpty);
        Assert.False(ring.TryDequeue(out _));
        Assert.Equal(0, ring.OverflowCount);
    }

    [Fact]
    public void SingleThreadOrderHoldsAcrossOverflowAndRefill()
    {
        var ring = new MpscRing<int>(4);
        var seen = new List<int>();

        // Six items into four cells: two overflow. Then free some cells and keep enqueueing; the
        // new items must wait behind the overflowed ones even though the ring has room.
        for (int i = 0; i < 6; i++)
        {
            ring.Enqueue(i);
        }

        for (int i = 0; i < 3; i++)
        {
            Assert.True(ring.TryDequeue(out int value));
            seen.Add(value);
        }

        for (int i = 6; i < 12; i++)
        {
            ring.Enqueue(i);
        }

        Assert.False(ring.IsEmpty);
        while (ring.TryDequeue(out int value))
        {
            seen.Add(value);
        }

        Assert.Equal(Enumerable.Range(0, 12), seen);
        Assert.True(ring.IsEmpty);
        Assert.True(ring.OverflowCount >= 2);
    }

    [Fact]
    public void EightProducersIntoRingOf1024DeliverEveryItemOnceInProducerOrder()
    {
        var ring = new MpscRing<Item>(1024);

        RunProducersAndConsumer(ring, producers: 8, itemsPerProducer: 100_000, consumerStall: TimeSpan.Zero);

        Assert.True(ring.IsEmpty);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void EightProducersIntoTinyRingUseOverflowAndStillDeliverEveryItemOnceInProducerOrder(int capacity)
    {
        var ring = new MpscRing<Item>(capacity);

        RunProducersAndConsumer(ring, producers: 8, itemsPerProducer: 100_000, consumerStall: TimeSpan.Zero);

        Assert.True(ring.OverflowCount > 0);
        Assert.True(ring.IsEmpty);
    }

    [Fact]
    public void ConsumerThatStallsWhileProducersRunDrainsEveryItemInProducerOrder()
    {
        var ring = new MpscRing<Item>(64);

        RunProducersAndConsumer(ring, producers: 8, itemsPerProducer: 20_000, consumerStall: TimeSpan.FromMilliseconds(200));

        Assert.True(ring.OverflowCount > 0);
        Assert.True(ring.IsEmpty);
    }

    [Fact]
    public void ItemsBeyondCapacityAllTakeOverflowWhileNothingIsConsumed()
    {
        const int Producers = 8;
        const int PerProducer = 10_000;
        var ring = new MpscRing<Item>(16);

        var threads = StartProducers(ring, Producers, PerProducer, start: null);
        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        // Nothing was consumed, so the ring holds exactly Capacity items and the rest overflowed.
        Assert.Equal(Producers * PerProducer - ring.Capacity, ring.OverflowCount);
        var next = new int[Producers];
        int received = 0;
        while (ring.TryDequeue(out Item item))
        {
            Assert.Equal(next[item.Producer], item.Sequence);
            next[item.Producer]++;
            received++;
        }

        Assert.Equal(Producers * PerProducer, received);
        Assert.True(ring.IsEmpty);
    }

    [Fact]
    public void ReferenceItemsAreReleasedAfterDequeueFromRingAndOverflow()
    {
        var ring = new MpscRing<Payload>(2);

        // Two fit in the ring, the third overflows.
        WeakReference[] refs = EnqueuePayloads(ring, 3);
        Assert.True(ring.OverflowCount > 0);
        DequeueAndDrop(ring, 3);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.All(refs, r => Assert.False(r.IsAlive));
    }

    [Fact]
    public void RandomProducerCountsSizesAndCapacitiesKeepEveryItemOnceInProducerOrder()
    {
        Gen<(int Producers, int PerProducer, int Capacity, int StallMs)> gen =
            Gen.Select(Gen.Int[1, 8], Gen.Int[1, 3_000], Gen.Int[1, 128], Gen.Int[0, 3]);

        gen.Sample(
            sample =>
            {
                var ring = new MpscRing<Item>(sample.Capacity);
                RunProducersAndConsumer(
                    ring,
                    sample.Producers,
                    sample.PerProducer,
                    TimeSpan.FromMilliseconds(sample.StallMs));
                Assert.True(ring.IsEmpty);
            },
            iter: 150,
            threads: 1);
    }

    // Starts the producers, drains on the calling thread (optionally sleeping first), and checks
    // that each producer's items arrive exactly once and in the order it sent them.
    private static void RunProducersAndConsumer(MpscRing<Item> ring, int producers, int itemsPerProducer, TimeSpan consumerStall)
    {
        using var start = new ManualResetEventSlim();
        var threads = StartProducers(ring, producers, itemsPerProducer, start);
        start.Set();

        if (consumerStall > TimeSpan.Zero)
        {
            Thread.Sleep(consumerStall);
        }

        var next = new int[producers];
        long total = (long)producers * itemsPerProducer;
        long received = 0;
        var clock = Stopwatch.StartNew();
        while (received < total)
        {
            if (ring.TryDequeue(out Item item))
            {
                if (item.Sequence != next[item.Producer])
                {
                    Assert.Fail($"Producer {item.Producer}: expected item {next[item.Producer]}, got {item.Sequence}.");
                }

                next[item.Producer]++;
                received++;
            }
            else if (clock.Elapsed > s_drainTimeout)
            {
                Assert.Fail($"Only {received} of {total} items arrived within {s_drainTimeout}.");
            }
            else
            {
                Thread.Yield();
            }
        }

        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        Assert.All(next, count => Assert.Equal(itemsPerProducer, count));
        Assert.False(ring.TryDequeue(out _));
    }

    private static Thread[] StartProducers(MpscRing<Item> ring, int producers, int itemsPerProducer, ManualResetEventSlim? start)
    {
        var threads = new Thread[producers];
        for (int p = 0; p < producers; p++)
        {
            int producer = p;
            threads[p] = new Thread(() =>
            {
                start?.Wait();
                for (int i = 0; i < itemsPerProducer; i++)
                {
                    ring.Enqueue(new Item(producer, i));
                }
            })
            { IsBackground = true, Name = $"MpscRing producer {p}" };
            threads[p].Start();
        }

        return threads;
    }

    // Kept out of line so no local in the test method keeps a payload reachable.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] EnqueuePayloads(MpscRing<Payload> ring, int count)
    {
        var refs = new WeakReference[count];
        for (int i = 0; i < count; i++)
        {
            var payload = new Payload();
            refs[i] = new WeakReference(payload);
            ring.Enqueue(payload);
        }

        return refs;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DequeueAndDrop(MpscRing<Payload> ring, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Assert.True(ring.TryDequeue(out _));
        }

        Assert.True(ring.IsEmpty);
    }
}
