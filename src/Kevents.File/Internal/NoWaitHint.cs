namespace Kevents.File.Internal;

/// <summary>
/// Whether a read is worth trying inline with <c>preadv2(RWF_NOWAIT)</c> before the ring: yes while the file's reads
/// are found in the page cache; after a miss (EAGAIN: the kernel would have to go to the disk) the next reads go
/// straight to the ring, a number that doubles with each further miss up to <see cref="MaxSkip"/>, so a cold file
/// pays one refused system call in every 65 reads at most, and a file that becomes cached is noticed again soon.
/// Loop thread only.
/// </summary>
internal sealed class NoWaitHint
{
    public const int MaxSkip = 64;

    private int _skip;
    private int _backoff;

    /// <summary>True when this read should try the page cache first.</summary>
    public bool ShouldTry()
    {
        if (_skip > 0)
        {
            _skip--;
            return false;
        }
        return true;
    }

    public void Hit() => _backoff = 0;

    public void Missed()
    {
        _backoff = _backoff == 0 ? 1 : Math.Min(_backoff * 2, MaxSkip);
        _skip = _backoff;
    }
}
