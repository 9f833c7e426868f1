namespace Kevents.Net;

public sealed partial class SocketServer
{
    /// <summary>
    /// Closes the listening socket now and leaves every live connection alone, for applications that drain their
    /// connections themselves before <see cref="ShutdownAsync"/> or <see cref="Dispose"/>. Idempotent. Loop thread
    /// only (or before the loop runs).
    /// </summary>
    public void StopAccepting()
    {
        _loop.VerifyAccess(nameof(StopAccepting));
        StopListening();
    }
}
