using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Kevents.Samples.Tests;

/// <summary>
/// Checks over every Kevents assembly and sample at once, which no single project's tests can make: log event ids
/// and names are unique and inside each project's range, and no errno number is defined outside Kevents.Errno.
/// </summary>
public sealed partial class ConsistencyTests
{
    // Each project's event id range; a new project takes the next free one and adds it here.
    private static readonly (string Assembly, int First, int Last, bool Library)[] s_ranges =
    [
        ("Kevents.Core", 1, 99, true),
        ("Kevents.Net", 100, 199, true),
        ("Kevents.Hybrid", 200, 299, true),
        ("Kevents.File", 300, 399, true),
        ("Kevents.Native", 400, 499, true),
        ("Kevents.Hosting", 500, 599, true),
        ("Kevents.Http", 600, 699, true),
        ("FileServer", 1000, 1099, false),
        ("EchoServer", 1100, 1199, false),
        ("LoadGen", 1200, 1299, false),
        ("RespServer", 1300, 1399, false),
        ("HttpServer", 1400, 1499, false),
    ];

    private static IEnumerable<Assembly> Assemblies() => s_ranges.Select(r => Assembly.Load(r.Assembly));

    private static IEnumerable<(string Assembly, string Method, LoggerMessageAttribute Message)> LogMessages() =>
        from range in s_ranges
        from type in Assembly.Load(range.Assembly).GetTypes()
        from method in type.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
        let message = method.GetCustomAttribute<LoggerMessageAttribute>()
        where message is not null
        select (range.Assembly, $"{type.FullName}.{method.Name}", message);

    [Fact]
    public void EveryLogMessageHasAnEventIdInItsProjectsRangeAndAName()
    {
        var messages = LogMessages().ToArray();
        Assert.True(messages.Length > 40, $"found only {messages.Length} [LoggerMessage] methods: is an assembly missing?");
        foreach ((string assembly, string method, LoggerMessageAttribute message) in messages)
        {
            (_, int first, int last, _) = s_ranges.Single(r => r.Assembly == assembly);
            Assert.True(message.EventId >= first && message.EventId <= last,
                $"{method} has event id {message.EventId}, outside {assembly}'s range {first}-{last}");
            Assert.False(string.IsNullOrEmpty(message.EventName), $"{method} has no EventName: tests and log queries match on it");
        }
    }

    [Fact]
    public void NoTwoLogMessagesShareAnEventId()
    {
        string[] duplicates = LogMessages()
            .GroupBy(m => m.Message.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}")
            .ToArray();
        Assert.True(duplicates.Length == 0, "event ids used twice:\n" + string.Join("\n", duplicates));
    }

    [Fact]
    public void NoTwoLogMessagesShareAnEventName()
    {
        // Across the library every name is unique; a sample may reuse a library name for its own line (its category
        // differs), but not one of its own.
        string[] duplicates = LogMessages()
            .GroupBy(m => s_ranges.Single(r => r.Assembly == m.Assembly).Library ? "library" : m.Assembly)
            .SelectMany(scope => scope.GroupBy(m => m.Message.EventName).Where(g => g.Count() > 1))
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}")
            .ToArray();
        Assert.True(duplicates.Length == 0, "event names used twice:\n" + string.Join("\n", duplicates));
    }

    [Fact]
    public void ErrnoNumbersAreDefinedOnlyInErrno()
    {
        // A constant named like an errno (ENONET, or Ebusy) with a value in errno's range, anywhere but Errno itself.
        string[] strays = (
            from assembly in Assemblies()
            from type in assembly.GetTypes()
            where type != typeof(Kevents.Errno)
            from field in type.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            where field.IsLiteral && field.FieldType == typeof(int) && ErrnoName().IsMatch(field.Name)
            let value = (int)field.GetRawConstantValue()!
            where value is > 0 and < 134
            select $"{type.FullName}.{field.Name} = {value}").ToArray();
        Assert.True(strays.Length == 0, "errno numbers outside Kevents.Errno (add them there, with a name):\n" + string.Join("\n", strays));
    }

    [GeneratedRegex("^E([A-Z0-9]{2,}|[a-z]{3,})$")]
    private static partial Regex ErrnoName();
}
