namespace Kevents.Net;

/// <summary>The peer reset the connection (ECONNRESET, EPIPE), or it failed with another socket error.</summary>
public sealed class ConnectionResetException : IOException
{
    /// <summary>Creates the exception with a message and the error behind it.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="error">The negative errno (for instance <c>-ECONNRESET</c>), as <see cref="Kevent.Data"/> carries it.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="error"/> is not negative.</exception>
    public ConnectionResetException(string message, int error) : base(message)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(error, 0);
        Error = error;
    }

    /// <summary>The negative errno the socket reported (for instance <c>-ECONNRESET</c>), as <see cref="Kevent.Data"/> carries it.</summary>
    public int Error { get; }
}
