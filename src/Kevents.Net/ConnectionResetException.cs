namespace Kevents.Net;

/// <summary>The peer reset the connection (ECONNRESET, EPIPE), or it failed with another socket error.</summary>
public sealed class ConnectionResetException : IOException
{
    /// <summary>Creates the exception with a message and the errno behind it.</summary>
    public ConnectionResetException(string message, int errno) : base(message) => Errno = errno;

    /// <summary>The positive errno the socket reported.</summary>
    public int Errno { get; }
}
