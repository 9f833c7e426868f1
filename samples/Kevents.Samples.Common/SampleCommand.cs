using System.CommandLine;

namespace Kevents.Samples;

/// <summary>
/// A sample's command line, read the one way all samples read theirs: System.CommandLine gives <c>--help</c>, and every
/// mistake (an unknown flag, a missing or bad value, options that do not go together) is reported the same way, as
/// "Program: what was wrong" on stderr followed by the help, with exit code 2.
/// </summary>
public sealed class SampleCommand
{
    /// <summary>The exit code for input the program cannot run with.</summary>
    public const int BadUsage = 2;

    private readonly string _name;
    private readonly List<Func<ParseResult, string?>> _checks = [];

    /// <summary>
    /// A command line for the program <paramref name="name"/> with <paramref name="options"/>. The name is given rather
    /// than taken from the executable, so help and errors read the same under <c>dotnet run</c>, <c>dotnet Name.dll</c>
    /// and in-process tests.
    /// </summary>
    public SampleCommand(string name, string description, params Option[] options)
    {
        _name = name;
        Root = new RootCommand(description) { HelpName = name };
        foreach (Option option in options)
        {
            Root.Options.Add(option);
        }
    }

    /// <summary>The System.CommandLine command behind this one.</summary>
    public RootCommand Root { get; }

    /// <summary>
    /// Adds a rule between options. <paramref name="check"/> runs only when every option parsed, so it may read any of
    /// them; it returns null when the combination is fine, or a message naming the flags and what would be allowed.
    /// </summary>
    public void Check(Func<ParseResult, string?> check) => _checks.Add(check);

    /// <summary>Parses <paramref name="args"/>, reporting to Console. See the overload with writers.</summary>
    public bool TryParse(IReadOnlyList<string> args, out ParseResult parsed, out int exitCode) =>
        TryParse(args, Console.Out, Console.Error, out parsed, out exitCode);

    /// <summary>
    /// Parses <paramref name="args"/>. True when the program should run with <paramref name="parsed"/>. False when it
    /// should return <paramref name="exitCode"/> at once: 0 after <c>--help</c> or <c>--version</c> printed to
    /// <paramref name="stdout"/>, <see cref="BadUsage"/> after the errors and the help went to <paramref name="stderr"/>.
    /// </summary>
    public bool TryParse(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, out ParseResult parsed, out int exitCode)
    {
        // No response files: a value starting with '@' (an abstract Unix socket name, say) is a value, as it always was.
        parsed = Root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        List<string> errors = parsed.Errors.Select(e => e.Message).ToList();
        if (errors.Count == 0 && parsed.Action is null)
        {
            ParseResult result = parsed;
            errors.AddRange(_checks.Select(check => check(result)).OfType<string>());
        }
        if (errors.Count > 0)
        {
            foreach (string error in errors)
            {
                stderr.WriteLine($"{_name}: {error}");
            }
            stderr.WriteLine();
            // The help, as --help prints it, but to stderr: stdout stays clean for output that scripts read.
            Root.Parse(["--help"]).Invoke(new InvocationConfiguration { Output = stderr, Error = stderr });
            exitCode = BadUsage;
            return false;
        }
        if (parsed.Action is not null)
        {
            // --help or --version: System.CommandLine's own actions print and give the exit code.
            exitCode = parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
            return false;
        }
        exitCode = 0;
        return true;
    }
}
