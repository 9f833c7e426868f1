namespace FileServer.Http;

/// <summary>What the parser took from a request's head: only the fields a static file server acts on.</summary>
internal sealed class HttpRequestHead
{
    /// <summary>The method as sent (case-sensitive, as RFC 9110 says).</summary>
    public string Method { get; set; } = "";

    /// <summary>The request target as sent, still percent-encoded.</summary>
    public string Target { get; set; } = "";

    /// <summary>10 for HTTP/1.0, 11 for HTTP/1.1.</summary>
    public int Version { get; set; }

    /// <summary>Content-Length, or -1 when absent.</summary>
    public long ContentLength { get; set; } = -1;

    /// <summary>The Transfer-Encoding value, or null when absent.</summary>
    public string? TransferEncoding { get; set; }

    /// <summary>The Range value, or null when absent (or sent twice, which makes it ignored).</summary>
    public string? Range { get; set; }

    /// <summary>Whether the connection stays open after the response (version default, then the Connection header).</summary>
    public bool KeepAlive { get; set; }

    /// <summary>Number of header fields.</summary>
    public int HeaderCount { get; set; }

    public bool IsGet => Method == "GET";

    public bool IsHead => Method == "HEAD";

    /// <summary>True when a body follows the head (a static server reads none, so the connection cannot continue).</summary>
    public bool HasBody => ContentLength > 0 || TransferEncoding is not null;

    public override string ToString() =>
        $"{Method} {Target} HTTP/{Version / 10}.{Version % 10} cl={ContentLength} te={TransferEncoding} range={Range} keepAlive={KeepAlive} headers={HeaderCount}";
}
