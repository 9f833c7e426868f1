using System.Reflection;

namespace Kevents.Fuzz;

/// <summary>
/// The RESP request parser. Not on this branch yet: when RespServer's parser exists, feed the input to it here
/// (multibulk and inline commands, pipelined; whole and in one-byte pieces, comparing the commands and the protocol
/// error), list its assembly in <see cref="Instrumented"/>, and bench/fuzz-corpus/resp starts being replayed.
/// </summary>
internal sealed class RespTarget : IFuzzTarget
{
    public string Name => "resp";

    public IReadOnlyList<Assembly> Instrumented { get; } = [];

    public void Run(ReadOnlySpan<byte> input) =>
        throw new FuzzTargetNotWiredException(Name, "RespTarget.Run in bench/Kevents.Fuzz/UnwiredTargets.cs awaits the RESP parser of samples/RespServer");
}
