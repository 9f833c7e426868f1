using Kevents.Net;

namespace Kevents.Hosting.Internal;

/// <summary>A listener registered in code: its name, default endpoint and handler.</summary>
internal sealed record ListenerRegistration(string Name, string? DefaultEndPoint,
    IStreamHandler? Handler, Func<PipeConnection, Task>? Application);

/// <summary>The listeners registered in code, by name (case-insensitive, as configuration keys are).</summary>
internal sealed class ListenerRegistry
{
    private readonly Dictionary<string, ListenerRegistration> _byName = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyCollection<ListenerRegistration> All => _byName.Values;

    public bool Contains(string name) => _byName.ContainsKey(name);

    public ListenerRegistration? Find(string name) => _byName.GetValueOrDefault(name);

    public void Add(string name, ListenerRegistration registration)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Listener name '{name}' contains ':', which configuration uses between keys; pick a name without it.", nameof(name));
        }
        if (!_byName.TryAdd(name, registration))
        {
            throw new ArgumentException($"A Kevents listener named '{name}' is registered already; each name serves one handler.", nameof(name));
        }
    }
}
