using System.Reflection;

namespace Kevents.Fuzz;

/// <summary>
/// One fuzz target: a parser fed one input, in memory. Run returns normally for every input the code under test
/// handles as designed, rejections included (a parse error is an answer, not a failure); anything that escapes
/// Run is a finding: an unexpected exception from the code under test, or a <see cref="FuzzInvariantException"/>
/// from the target's own checks of what the parser returned.
/// </summary>
internal interface IFuzzTarget
{
    /// <summary>The name bench/fuzz.sh and bench/fuzz-corpus/NAME use.</summary>
    string Name { get; }

    /// <summary>
    /// The assemblies whose code `sharpfuzz` must instrument for coverage (the code under test, not this harness);
    /// empty while the target is not wired to real code yet.
    /// </summary>
    IReadOnlyList<Assembly> Instrumented { get; }

    /// <summary>Feeds <paramref name="input"/> to the code under test and checks what it returned.</summary>
    void Run(ReadOnlySpan<byte> input);
}

/// <summary>The parser returned something it must never return (an invariant of the target failed).</summary>
internal sealed class FuzzInvariantException(string message) : Exception(message);
