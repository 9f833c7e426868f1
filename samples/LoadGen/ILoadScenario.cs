namespace LoadGen;

/// <summary>
/// What LoadGen sends and how it checks the answers. The runner owns sockets, pacing, timing and counting; a
/// scenario only turns bytes into requests and responses. Echo, HTTP and RESP plug in here.
/// </summary>
/// <remarks>
/// One scenario object is shared by every connection and every loop thread, so it must be immutable. Per-connection
/// state lives in the <see cref="ILoadSession"/> it creates, which is used only from that connection's loop thread.
/// Requests and responses on one connection are matched in order (the protocols in view answer in order).
/// </remarks>
public interface ILoadScenario
{
    /// <summary>A short name for reports ("echo").</summary>
    string Name { get; }

    /// <summary>What else the report should say about the load (the HTTP path, the RESP command); empty by default.</summary>
    string Detail => "";

    /// <summary>The most bytes one request may take; the runner always offers at least this much room.</summary>
    int MaxRequestSize { get; }

    /// <summary>Creates the state of connection number <paramref name="connectionIndex"/> (0-based, stable across runs).</summary>
    ILoadSession CreateSession(int connectionIndex);
}

/// <summary>One connection's side of a scenario: builds its requests and verifies its responses.</summary>
public interface ILoadSession
{
    /// <summary>
    /// Writes the next request into <paramref name="destination"/> (at least <see cref="ILoadScenario.MaxRequestSize"/>
    /// bytes long) and returns how many bytes it used. The runner sends it right away.
    /// </summary>
    int WriteRequest(Span<byte> destination);

    /// <summary>
    /// Consumes response bytes as they arrive, in any split (a response may span calls, and one call may hold
    /// several). The bytes are only valid during the call. Returns how many responses this data completed and
    /// how many of those were wrong.
    /// </summary>
    ResponseProgress ReadResponses(ReadOnlySpan<byte> data);
}

/// <summary>What one batch of response bytes did.</summary>
/// <param name="Completed">Responses that finished in this batch, in request order, wrong ones included.</param>
/// <param name="Mismatched">How many of <paramref name="Completed"/> did not match what was expected.</param>
/// <param name="Broken">
/// The stream can no longer be followed (bytes nobody asked for, an unparseable reply): the runner counts a
/// mismatch and closes the connection.
/// </param>
public readonly record struct ResponseProgress(int Completed, int Mismatched, bool Broken = false);
