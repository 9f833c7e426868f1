namespace FileServer;

/// <summary>Counters for the shutdown summary and tests: Kevents.Http's, plus the body bytes served. Loop thread only.</summary>
internal sealed class FileServerStats(StaticFileServer server)
{
    /// <summary>Responses sent (every request answered, refusals of malformed ones included).</summary>
    public long Requests => Success + ClientErrors + ServerErrors;

    public long Success => server.Http?.SuccessResponses ?? 0;

    /// <summary>4xx answers, and 501/505 answers to requests the parser refused (the client's fault, not ours).</summary>
    public long ClientErrors => server.Http?.ClientErrorResponses ?? 0;

    public long ServerErrors => server.Http?.ServerErrorResponses ?? 0;

    /// <summary>Body bytes of the successful responses (what was due, whether or not the client read it all).</summary>
    public long BodyBytes { get; set; }

    /// <summary>Responses cut short because the peer went away (or the deadline passed) mid-body.</summary>
    public long AbortedResponses => server.Http?.AbortedResponses ?? 0;

    /// <summary>Unparsed input bytes moved to the front of a buffer to make room (linear in the input, not per request).</summary>
    public long InputBytesMoved => server.Http?.InputBytesMoved ?? 0;

    /// <summary>The most requests one connection had handled in one go (bounded by FileServerOptions.MaxRequestsPerTurn).</summary>
    public int MostRequestsInOneTurn => server.Http?.MostRequestsInOneTurn ?? 0;
}
