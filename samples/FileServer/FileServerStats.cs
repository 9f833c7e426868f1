namespace FileServer;

/// <summary>Counters for the shutdown summary and tests. Loop thread only.</summary>
internal sealed class FileServerStats
{
    public long Requests { get; set; }

    public long Success { get; set; }

    public long ClientErrors { get; set; }

    public long ServerErrors { get; set; }

    public long BodyBytes { get; set; }

    /// <summary>Responses cut short because the peer went away (or the deadline passed) mid-body.</summary>
    public long AbortedResponses { get; set; }

    /// <summary>Unparsed input bytes moved to the front of a buffer to make room (linear in the input, not per request).</summary>
    public long InputBytesMoved { get; set; }

    /// <summary>The most requests one connection had handled in one go (bounded by FileServerOptions.MaxRequestsPerTurn).</summary>
    public int MostRequestsInOneTurn { get; private set; }

    public void NoteRequestsInOneTurn(int handled)
    {
        if (handled > MostRequestsInOneTurn)
        {
            MostRequestsInOneTurn = handled;
        }
    }

    /// <summary>Counts one response; <paramref name="malformed"/> answers to unparsable requests are client errors even when 501 or 505.</summary>
    public void Count(int status, bool malformed = false)
    {
        Requests++;
        if (status < 400)
        {
            Success++;
        }
        else if (status < 500 || malformed)
        {
            ClientErrors++;
        }
        else
        {
            ServerErrors++;
        }
    }
}
