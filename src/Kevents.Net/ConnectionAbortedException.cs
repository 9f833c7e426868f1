namespace Kevents.Net;

/// <summary>The connection was aborted locally: idle timeout, server shutdown deadline, or an explicit Abort.</summary>
public sealed class ConnectionAbortedException : OperationCanceledException
{
    /// <summary>Creates the exception with a message saying why the connection was aborted.</summary>
    public ConnectionAbortedException(string message) : base(message)
    {
    }
}
