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

    public void Count(int status)
    {
        Requests++;
        if (status < 400)
        {
            Success++;
        }
        else if (status < 500)
        {
            ClientErrors++;
        }
        else
        {
            ServerErrors++;
        }
    }
}
