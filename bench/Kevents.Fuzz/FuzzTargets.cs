namespace Kevents.Fuzz;

/// <summary>Every target by name. A new target is a class implementing <see cref="IFuzzTarget"/> listed here.</summary>
internal static class FuzzTargets
{
    public static IReadOnlyList<IFuzzTarget> All { get; } =
    [
        new HttpRequestTarget(),
        new HttpChunkedTarget(),
        new RespTarget(),
        new PathTarget(),
    ];

    public static IFuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    public static bool IsWired(this IFuzzTarget target) => target.Instrumented.Count > 0;
}
