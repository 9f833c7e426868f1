namespace FileServer.Http;

/// <summary>Content-Type by file extension: a small table, application/octet-stream for anything else.</summary>
internal static class ContentTypes
{
    private static readonly Dictionary<string, byte[]> s_byExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8"u8.ToArray(),
        [".htm"] = "text/html; charset=utf-8"u8.ToArray(),
        [".css"] = "text/css; charset=utf-8"u8.ToArray(),
        [".js"] = "text/javascript; charset=utf-8"u8.ToArray(),
        [".mjs"] = "text/javascript; charset=utf-8"u8.ToArray(),
        [".json"] = "application/json"u8.ToArray(),
        [".txt"] = "text/plain; charset=utf-8"u8.ToArray(),
        [".png"] = "image/png"u8.ToArray(),
        [".jpg"] = "image/jpeg"u8.ToArray(),
        [".jpeg"] = "image/jpeg"u8.ToArray(),
        [".gif"] = "image/gif"u8.ToArray(),
        [".svg"] = "image/svg+xml"u8.ToArray(),
        [".wasm"] = "application/wasm"u8.ToArray(),
        [".pdf"] = "application/pdf"u8.ToArray(),
    };

    private static readonly byte[] s_default = "application/octet-stream"u8.ToArray();

    /// <summary>The media type for <paramref name="path"/>, as ASCII bytes ready for the header.</summary>
    public static byte[] For(string path)
    {
        int dot = path.LastIndexOf('.');
        if (dot < 0 || path.IndexOf('/', dot) >= 0)
        {
            return s_default;
        }
        return s_byExtension.TryGetValue(path[dot..], out byte[]? type) ? type : s_default;
    }
}
