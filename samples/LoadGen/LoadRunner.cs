using System.Net;
using System.Net.Sockets;
using HdrHistogram;
using Kevents.Net;

namespace LoadGen;

/// <summary>
/// Runs one load test: opens the connections over the loops, applies the load for warm-up plus duration, closes
/// every connection, and returns the merged result. The data path is Kevents' own client side (an
/// <see cref="Kevents.EventLoop"/> per thread, outgoing <see cref="StreamConnection"/>s).
/// </summary>
public static class LoadRunner
{
    /// <summary>
    /// Runs the test described by <paramref name="options"/>. <paramref name="progress"/> is called about once a
    /// second from the caller's side (not a loop thread). Cancelling <paramref name="cancellationToken"/> ends the
    /// measured window early; the result covers what was measured until then.
    /// </summary>
    public static async Task<LoadResult> RunAsync(LoadOptions options, Action<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ILoadScenario scenario = options.Scenario ?? new EchoScenario(options.MessageSize);
        EndPoint target = await ResolveAsync(options, cancellationToken).ConfigureAwait(false);
        var workers = new LoopWorker[Math.Max(1, options.Loops)];
        try
        {
            for (int i = 0; i < workers.Length; i++)
            {
                workers[i] = new LoopWorker(i, options, scenario, target);
                workers[i].Start();
            }
            (int connectErrors, string? firstError) = await ConnectAllAsync(options, scenario, target, workers).ConfigureAwait(false);

            long loadStart = Clock.NowNs();
            long measureStart = loadStart + options.Warmup.Ticks * 100;
            long measureEnd = measureStart + options.Duration.Ticks * 100;
            foreach (LoopWorker worker in workers)
            {
                worker.Loop.Post(() => worker.Go(loadStart, measureStart, measureEnd));
            }
            measureEnd = await WaitForEndAsync(workers, loadStart, measureStart, measureEnd, progress, cancellationToken).ConfigureAwait(false);

            foreach (LoopWorker worker in workers)
            {
                worker.Loop.Post(worker.BeginDrain);
            }
            // Each worker closes its connections within its drain limit (1 s); the extra time is only a safety net.
            await Task.WhenAll(workers.Select(w => w.AllClosed)).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return Merge(options, scenario, target, workers, connectErrors, firstError, (measureEnd - measureStart) / 1e9);
        }
        finally
        {
            foreach (LoopWorker? worker in workers)
            {
                worker?.Dispose();
            }
        }
    }

    private static async Task<EndPoint> ResolveAsync(LoadOptions options, CancellationToken cancellationToken)
    {
        if (options.UnixPath is not null)
        {
            return EventLoopNetExtensions.UnixEndPoint(options.UnixPath);
        }
        if (IPAddress.TryParse(options.Host, out IPAddress? address))
        {
            return new IPEndPoint(address, options.Port);
        }
        // A name: prefer IPv4, as most servers bind it first.
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(options.Host, cancellationToken).ConfigureAwait(false);
        IPAddress chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
            ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(chosen, options.Port);
    }

    private static async Task<(int Errors, string? First)> ConnectAllAsync(LoadOptions options, ILoadScenario scenario, EndPoint target, LoopWorker[] workers)
    {
        var connects = new Task[options.Connections];
        for (int i = 0; i < connects.Length; i++)
        {
            LoopWorker worker = workers[i % workers.Length];
            // The generator is the loop's, but nothing runs on the loop yet, so drawing from it here is safe.
            var connection = new LoadConnection(worker, scenario.CreateSession(i), i, worker.NextEndsWithReset());
            connects[i] = worker.Loop.ConnectAsync(target, connection, options.Timeout, LoopWorker.ConnectionOptions);
        }
        // Connects complete on their loop threads; force the rest of the run off them. Failures are counted below.
        await Task.WhenAll(connects).ConfigureAwait(ConfigureAwaitOptions.ForceYielding | ConfigureAwaitOptions.SuppressThrowing);
        int errors = connects.Count(t => !t.IsCompletedSuccessfully);
        string? first = connects.FirstOrDefault(t => t.IsFaulted)?.Exception?.InnerException?.Message;
        return (errors, first);
    }

    private static async Task<long> WaitForEndAsync(LoopWorker[] workers, long loadStart, long measureStart, long measureEnd,
        Action<LoadProgress>? progress, CancellationToken cancellationToken)
    {
        long lastCompleted = 0;
        long lastAt = loadStart;
        // Reads the workers' counters from this (the runner's) thread; the loops never wait for it. A wake-up a hair
        // early or at the very end would make a sliver of an interval whose rate means nothing: those are skipped.
        void Report(long minIntervalNs)
        {
            long now = Clock.NowNs();
            if (progress is null || now - lastAt < minIntervalNs)
            {
                return;
            }
            long completed = workers.Sum(w => Volatile.Read(ref w.Completed));
            long errors = workers.Sum(w => Volatile.Read(ref w.Resets) + Volatile.Read(ref w.PeerCloses) + Volatile.Read(ref w.Timeouts));
            long mismatches = workers.Sum(w => Volatile.Read(ref w.Mismatches));
            double perSecond = now > lastAt ? (completed - lastCompleted) * 1e9 / (now - lastAt) : 0;
            progress(new LoadProgress(TimeSpan.FromTicks((now - loadStart) / 100), now >= measureStart,
                workers.Sum(w => w.LiveConnections), completed, perSecond, errors, mismatches));
            lastCompleted = completed;
            lastAt = now;
        }

        while (true)
        {
            long now = Clock.NowNs();
            if (now >= measureEnd)
            {
                // One last look covers the part of a second since the previous one.
                Report(100_000_000);
                return measureEnd;
            }
            // Wake on whole seconds since the start, or at the end, whichever is first.
            long nextReport = loadStart + ((now - loadStart) / 1_000_000_000 + 1) * 1_000_000_000;
            long wait = Math.Min(nextReport, measureEnd) - now;
            try
            {
                await Task.Delay(TimeSpan.FromTicks(Math.Max(1, wait / 100)), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                long end = Math.Max(measureStart, Clock.NowNs());
                foreach (LoopWorker worker in workers)
                {
                    worker.Loop.Post(() => worker.EndMeasurementAt(end));
                }
                Report(100_000_000);
                return Math.Min(end, measureEnd);
            }
            if (Clock.NowNs() < measureEnd)
            {
                Report(500_000_000);
            }
        }
    }

    private static LoadResult Merge(LoadOptions options, ILoadScenario scenario, EndPoint target, LoopWorker[] workers,
        int connectErrors, string? firstError, double seconds)
    {
        var histogram = new LongHistogram(LoopWorker.HighestLatencyNs, 3);
        foreach (LoopWorker worker in workers)
        {
            histogram.Add(worker.Histogram);
        }
        bool any = histogram.TotalCount > 0;
        double Us(long ns) => ns / 1000.0;
        double At(double percentile) => any ? Us(histogram.GetValueAtPercentile(percentile)) : 0;
        long messages = workers.Sum(w => w.Measured);
        long bytes = workers.Sum(w => w.MeasuredBytes);
        return new LoadResult
        {
            Scenario = scenario.Name,
            Mode = options.IsOpenLoop ? "open" : "closed",
            Target = target.ToString() ?? "",
            Connections = options.Connections,
            Connected = options.Connections - connectErrors,
            Size = options.MessageSize,
            Depth = options.Depth,
            Rate = options.Rate,
            Loops = workers.Length,
            Seconds = seconds,
            Messages = messages,
            MessagesPerSecond = seconds > 0 ? messages / seconds : 0,
            MegabytesPerSecond = seconds > 0 ? bytes / seconds / 1e6 : 0,
            P50Us = At(50),
            P90Us = At(90),
            P99Us = At(99),
            P999Us = At(99.9),
            MaxUs = any ? Us(histogram.GetMaxValue()) : 0,
            MeanUs = any ? histogram.GetMean() / 1000.0 : 0,
            ConnectErrors = connectErrors + workers.Sum(w => w.ReconnectErrors),
            Churn = options.Churn,
            Replacements = workers.Sum(w => w.Replacements),
            ResetCloses = workers.Sum(w => w.ResetCloses),
            Resets = workers.Sum(w => w.Resets),
            PeerCloses = workers.Sum(w => w.PeerCloses),
            Timeouts = workers.Sum(w => w.Timeouts),
            Mismatches = workers.Sum(w => w.Mismatches),
            ScheduledSends = workers.Sum(w => w.ScheduledSends),
            LateSends = workers.Sum(w => w.LateSends),
            MaxLagUs = Us(workers.Max(w => w.MaxLagNs)),
            FirstError = firstError ?? workers.Select(w => w.FirstReconnectError).FirstOrDefault(e => e is not null),
            Percentiles = any ? [.. LoadResult.CurvePercentiles.Select(p => new LatencyPoint(p, p >= 100 ? Us(histogram.GetMaxValue()) : At(p)))] : [],
            ConnectionErrors = [.. workers.SelectMany(w => w.ConnectionErrors).OrderBy(e => e.AtSeconds)],
        };
    }
}
