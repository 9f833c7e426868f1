namespace Kevents;

// Per-loop state for the layers built on the loop (Kevents.Net, Kevents.Hybrid, Kevents.File, or anyone else's): one
// object per type, created on first use, disposed with the loop. Reads are lock-free because a layer looks its state
// up on hot paths (a connection closing); creation takes a lock so that `create` runs once per type and loop.
public sealed partial class EventLoop
{
    private readonly object _featureGate = new();
    // Replaced, never mutated, under _featureGate; readers see a complete array or the previous one.
    private object[] _features = [];
    private bool _featuresDisposed;
    private int _featureDisposalStarted;

    /// <summary>
    /// Returns this loop's feature of type <typeparamref name="T"/>, creating it with <paramref name="create"/> on
    /// first use. This is how a layer keeps per-loop state: one object per type (use a type private to your layer, so
    /// no one else can reach or replace it), living exactly as long as the loop.
    /// </summary>
    /// <remarks>
    /// <para><b>Threading.</b> Safe from any thread. <paramref name="create"/> runs at most once per type and loop, on
    /// the calling thread, under the loop's feature lock: a second caller racing the first waits and gets the same
    /// object. So <paramref name="create"/> must be quick and must not wait for the loop thread (for work it posted, say);
    /// it may itself call <see cref="GetOrAddFeature{T}"/> for another type.</para>
    /// <para><b>Disposal.</b> A feature that implements <see cref="IDisposable"/> is disposed when the loop is disposed:
    /// after the loop has stopped running and before it drops its unrun posted work and closes its own descriptors, on the
    /// disposing thread, in the order the features were created. A feature created while others are being disposed is
    /// disposed in the same pass. An exception from <see cref="IDisposable.Dispose"/> is logged and the next feature is
    /// disposed all the same.</para>
    /// <para><b>Cost.</b> Finding an existing feature is a lock-free scan of a short array, with no allocation.</para>
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The feature does not exist yet and the loop was disposed: it could never be disposed.</exception>
    public T GetOrAddFeature<T>(Func<EventLoop, T> create) where T : class
    {
        if (TryGetFeature(out T? existing))
        {
            return existing;
        }
        ArgumentNullException.ThrowIfNull(create);
        lock (_featureGate)
        {
            if (TryGetFeature(out existing))
            {
                return existing;
            }
            if (_featuresDisposed)
            {
                throw new ObjectDisposedException(nameof(EventLoop),
                    $"EventLoop.{nameof(GetOrAddFeature)}<{typeof(T).Name}>: the loop '{Name}' was disposed, so a new feature would never be disposed. Create features before disposing the loop.");
            }
            T created = create(this) ?? throw new InvalidOperationException(
                $"EventLoop.{nameof(GetOrAddFeature)}<{typeof(T).Name}>: the create function returned null; it must return the feature.");
            // create may have added other features meanwhile (the lock is re-entrant): append to the current array.
            object[] current = _features;
            object[] grown = new object[current.Length + 1];
            current.CopyTo(grown, 0);
            grown[^1] = created;
            Volatile.Write(ref _features, grown);
            return created;
        }
    }

    /// <summary>
    /// Finds this loop's feature of type <typeparamref name="T"/> without creating it. Safe from any thread, lock-free,
    /// no allocation. Works after the loop was disposed too (the feature is then disposed already).
    /// </summary>
    /// <returns>True when the feature exists.</returns>
    public bool TryGetFeature<T>([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? feature) where T : class
    {
        foreach (object candidate in Volatile.Read(ref _features))
        {
            // Exact type, not assignability: two layers' features never answer for each other.
            if (candidate.GetType() == typeof(T))
            {
                feature = (T)candidate;
                return true;
            }
        }
        feature = null;
        return false;
    }

    private void DisposeFeatures()
    {
        if (Interlocked.Exchange(ref _featureDisposalStarted, 1) != 0)
        {
            return;
        }
        int next = 0;
        while (true)
        {
            object feature;
            lock (_featureGate)
            {
                if (next == _features.Length)
                {
                    _featuresDisposed = true;
                    return;
                }
                feature = _features[next++];
            }
            if (feature is not IDisposable disposable)
            {
                continue;
            }
            try
            {
                disposable.Dispose();
            }
            catch (Exception ex)
            {
                Internal.Log.FeatureDisposeFailed(_logger, feature.GetType().FullName ?? feature.GetType().Name, ex);
            }
        }
    }
}
