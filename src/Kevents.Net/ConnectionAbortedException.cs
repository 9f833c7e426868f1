namespace Kevents.Net;

/// <summary>
/// The connection was aborted locally: idle timeout, a peer reading below the minimum response rate, server shutdown
/// deadline, or an explicit Abort.
/// </summary>
public sealed class ConnectionAbortedException : OperationCanceledException
{
    /// <summary>Creates the exception with a message saying why the connection was aborted.</summary>
    public ConnectionAbortedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure that caused the abort.</summary>
    public ConnectionAbortedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
