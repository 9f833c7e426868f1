namespace Kevents.Http;

/// <summary>The outcome of feeding <see cref="HttpRequestParser.Parse"/>.</summary>
public enum HttpParseStatus
{
    /// <summary>The head is not complete yet: call again with the same bytes and more after them.</summary>
    Incomplete,

    /// <summary>A head was parsed; <c>consumed</c> bytes belong to it and <see cref="HttpRequestParser.Request"/> holds it.</summary>
    Complete,

    /// <summary>The input is not a request this parser accepts; answer <see cref="HttpRequestParser.ErrorStatus"/> and close.</summary>
    Error,
}
