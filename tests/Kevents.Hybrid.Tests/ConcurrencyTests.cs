using CsCheck;

namespace Kevents.Hybrid.Tests;

/// <summary>
/// Threadlet hand-off and cancellation under random interleavings (CsCheck): threadlets that move to cache-miss
/// threads while other threads cancel some of them at random moments. Each threadlet finishes exactly once, with its
/// own answer or, only if its own token was cancelled, with a cancellation; never with another threadlet's fate.
/// </summary>
public sealed class ConcurrencyTests : HybridTest
{
    [Fact]
    public void RandomCancelsRacingOffloadedThreadletsAffectOnlyTheirOwnThreadlet()
    {
        using var lt = new LoopThread(threadlets: new ThreadletOptions { MaxShortThreads = 4 });
        Gen.Select(Gen.Int[1, 48], Gen.Int[0, 100], Gen.Int[0, 20_000]).Sample((count, cancelPercent, spin) =>
        {
            var sources = Enumerable.Range(0, count).Select(_ => new CancellationTokenSource()).ToArray();
            var outcomes = new string?[count];
            Task finished = lt.OnLoop(async () =>
            {
                var running = new Task[count];
                for (int i = 0; i < count; i++)
                {
                    int id = i;
                    running[i] = RunOne(lt.Loop, id, spin, sources[id].Token, outcomes);
                }
                await Task.WhenAll(running);
                return 0;
            });
            var canceller = new Thread(() =>
            {
                var random = new Random(count * 31 + spin);
                foreach (int i in Enumerable.Range(0, count).OrderBy(_ => random.Next()))
                {
                    if (random.Next(100) < cancelPercent)
                    {
                        Thread.SpinWait(random.Next(0, spin + 1));
                        sources[i].Cancel();
                    }
                }
            });
            canceller.Start();
            bool done = finished.Wait(TimeSpan.FromSeconds(20));
            canceller.Join();
            bool fair = done && Enumerable.Range(0, count).All(i =>
                outcomes[i] == $"ok {i}" || (outcomes[i] == "cancelled" && sources[i].IsCancellationRequested));
            foreach (CancellationTokenSource source in sources)
            {
                source.Dispose();
            }
            return fair;
        }, iter: 40, threads: 1);
    }

    private static async Task RunOne(EventLoop loop, int id, int spin, CancellationToken token, string?[] outcomes)
    {
        try
        {
            int answer = await loop.Threadlet(async t => await t.Blocking(ct =>
            {
                Thread.SpinWait(spin);
                return id;
            }), token);
            outcomes[id] = answer == id ? $"ok {id}" : $"wrong answer {answer}";
        }
        catch (OperationCanceledException)
        {
            outcomes[id] = "cancelled";
        }
        catch (Exception ex)
        {
            outcomes[id] = $"failed: {ex.GetType().Name}: {ex.Message}";
        }
    }
}
