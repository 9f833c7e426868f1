namespace FileServer.Http;

/// <summary>The outcome of feeding the parser.</summary>
internal enum ParseStatus
{
    /// <summary>The head is not complete yet: feed more bytes (the same buffer, grown).</summary>
    Incomplete,
    /// <summary>A head was parsed; <c>consumed</c> bytes belong to it.</summary>
    Complete,
    /// <summary>The input is not a request this server accepts; answer <see cref="HttpRequestParser.ErrorStatus"/> and close.</summary>
    Error,
}
