using System.Reflection;
using System.Text;
using Kevents.Http;

namespace Kevents.Fuzz;

/// <summary>
/// The request-path normaliser, Kevents.Http's <see cref="HttpRequestPath"/> (FileServer maps targets to files with it). Inputs the request parser would already have refused (bytes outside visible ASCII, a
/// target that is neither origin-form nor absolute-form) are skipped: the normaliser is only ever handed the rest.
/// A resolved path must be relative, without empty, "." or ".." segments, backslashes or control characters.
/// </summary>
internal sealed class PathTarget : IFuzzTarget
{
    public string Name => "path";

    public IReadOnlyList<Assembly> Instrumented { get; } = [typeof(HttpRequestPath).Assembly];

    public void Run(ReadOnlySpan<byte> input)
    {
        foreach (byte b in input)
        {
            if (b is < 0x21 or > 0x7E)
            {
                return;
            }
        }
        if (input.IsEmpty || (input[0] != (byte)'/' && !input.StartsWith("http://"u8) && !input.StartsWith("https://"u8)))
        {
            return;
        }
        string target = Encoding.ASCII.GetString(input);
        string? path = HttpRequestPath.Resolve(target, out string reason);
        if (path is null)
        {
            if (reason.Length == 0)
            {
                throw new FuzzInvariantException($"refused '{target}' without a reason");
            }
            return;
        }
        if (path.Length == 0)
        {
            return; // the root itself
        }
        if (path.StartsWith('/') || path.EndsWith('/') || path.Contains('\\') || path.Any(c => c < 0x20 || c == 0x7F))
        {
            throw new FuzzInvariantException($"'{target}' resolved to '{path}', which is absolute or holds a backslash or control character");
        }
        foreach (string segment in path.Split('/'))
        {
            if (segment is "" or "." or "..")
            {
                throw new FuzzInvariantException($"'{target}' resolved to '{path}', which has an empty, '.' or '..' segment");
            }
        }
    }
}
