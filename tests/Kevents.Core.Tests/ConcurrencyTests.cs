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
    [Fact]
    public void RingEnqueuesFromParallelThreadsAreLinearizable()
    {
        // Enqueues that overlap in time may take effect in any order, but each thread's in its own order, and every
        // item exactly once: the drained sequence must be an interleaving of the threads' sequences after whatever
        // was enqueued before them. Tiny rings with a prefill push most items through the overflow, where ordering
        // is subtle; a start barrier makes the producers really overlap.
        Gen.Select(Gen.Int[2, 8], Gen.Int[0, 10], Gen.Int[2, 4], Gen.Int[1, 40]).Sample((capacity, prefill, producers, perProducer) =>
        {
            var ring = new MpscRing<int>(capacity);
            for (int i = 0; i < prefill; i++)
            {
                ring.Enqueue(-1 - i);
            }
            using var start = new Barrier(producers);
            var threads = Enumerable.Range(0, producers).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < perProducer; i++)
                {
                    ring.Enqueue(t * 1000 + i);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            var drained = new List<int>();
            while (ring.TryDequeue(out int item))
            {
                drained.Add(item);
            }
            if (drained.Count != prefill + producers * perProducer)
            {
                return false;
            }
            for (int i = 0; i < prefill; i++)
            {
                if (drained[i] != -1 - i)
                {
                    return false;
                }
            }
            var next = new int[producers];
            foreach (int item in drained.Skip(prefill))
            {
                int thread = item / 1000;
                if (item % 1000 != next[thread]++)
                {
                    return false;
                }
            }
            return next.All(n => n == perProducer);
        }, iter: 400, threads: 1);
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
