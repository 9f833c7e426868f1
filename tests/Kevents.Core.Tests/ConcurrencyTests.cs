using System.Collections.Concurrent;
using CsCheck;
using Kevents.Internal;

namespace Kevents.Tests;

/// <summary>
/// The loop's cross-thread paths under many random interleavings (CsCheck): the completion ring checked for
/// linearizability against a list, posts racing Stop and a restarted Run, and completions from other threads racing
/// the loop going to sleep (a lost wake-up shows as a loop that never delivers).
/// </summary>
public sealed class ConcurrencyTests : LoopTest
{
    /// <summary>A ring under test that is drained once, on the checking thread, when first compared.</summary>
    private sealed class RingUnderTest(int capacity)
    {
        private List<int>? _drained;

        public MpscRing<int> Ring { get; } = new(capacity);

        public List<int> Drained()
        {
            if (_drained is null)
            {
                _drained = [];
                while (Ring.TryDequeue(out int item))
                {
                    _drained.Add(item);
                }
            }
            return _drained;
        }

        public override string ToString() => $"ring of {Ring.Capacity}";
    }

    [Fact]
    public void RingEnqueuesFromParallelThreadsAreLinearizable()
    {
        // Tiny capacities push most items through the overflow, the path where ordering is subtle.
        Gen.Int[2, 8].Select(c => (new RingUnderTest(c), new List<int>()))
            .SampleParallel(
                Gen.Int[0, 1000].Operation<RingUnderTest, List<int>>(i => $"Enqueue({i})", (r, i) => r.Ring.Enqueue(i), (m, i) => m.Add(i)),
                equal: (r, m) => r.Drained().SequenceEqual(m),
                iter: 300, threads: 4);
    }

    [Fact]
    public void PostsRacingStopAndARestartedRunEachRunOnceInPerThreadOrder()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 400], Gen.Int[0, 3]).Sample((producers, perProducer, stops) =>
        {
            using var loop = new EventLoop(new EventLoopOptions { RingCapacity = 16 });
            var next = new int[producers];
            int seen = 0;
            int total = producers * perProducer;
            bool inOrder = true;
            Action<object?> onItem = state =>
            {
                var (thread, seq) = ((int, int))state!;
                inOrder &= next[thread] == seq;
                next[thread] = seq + 1;
                seen++;
            };
            var threads = Enumerable.Range(0, producers).Select(t => new Thread(() =>
            {
                for (int i = 0; i < perProducer; i++)
                {
                    loop.Post(onItem, (t, i));
                    if ((i & 63) == 0)
                    {
                        Thread.Yield();
                    }
                }
            })).ToList();
            var stopper = new Thread(() =>
            {
                for (int i = 0; i < stops; i++)
                {
                    Thread.SpinWait(Random.Shared.Next(1, 20_000));
                    loop.Stop();
                }
            });
            threads.ForEach(t => t.Start());
            stopper.Start();
            DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            loop.Register(Kevent.Timer(1, TimeSpan.FromMilliseconds(1), periodic: true), (in Kevent _) =>
            {
                if (seen == total || DateTime.UtcNow > deadline)
                {
                    loop.Stop();
                }
            });
            while (seen < total && DateTime.UtcNow < deadline)
            {
                loop.Run();
            }
            threads.ForEach(t => t.Join());
            stopper.Join();
            return seen == total && inOrder;
        }, iter: 60, threads: 1);
    }

    [Fact]
    public void CompletionsFromOtherThreadsRacingTheLoopToSleepAreAllDelivered()
    {
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 200], Gen.Int[0, 5000]).Sample((producers, perProducer, spin) =>
        {
            using var loop = new EventLoop(new EventLoopOptions { RingCapacity = 8 });
            int total = producers * perProducer;
            var delivered = new int[total];
            int count = 0;
            loop.SetFilterHandler(KeventFilter.Aio, (in Kevent ev) =>
            {
                delivered[(int)ev.Ident]++;
                if (++count == total)
                {
                    loop.Stop();
                }
            });
            // No timer and no other work: the loop sleeps in epoll_wait between completions, so a completion whose
            // wake-up is lost leaves it asleep until the guard below gives up.
            var threads = Enumerable.Range(0, producers).Select(t => new Thread(() =>
            {
                for (int i = 0; i < perProducer; i++)
                {
                    Thread.SpinWait(spin);
                    loop.Complete(new Kevent((ulong)(t * perProducer + i), KeventFilter.Aio, KeventFlags.None, 0, 0));
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            var guard = new System.Threading.Timer(_ => loop.Stop(), null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
            loop.Run();
            guard.Dispose();
            threads.ForEach(t => t.Join());
            return count == total && delivered.All(d => d == 1);
        }, iter: 60, threads: 1);
    }
}
