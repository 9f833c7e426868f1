using System.Text;
using RespServer;

namespace Kevents.RespServer.Tests;

/// <summary>
/// The command lookup: the hot commands are matched by length and bytes before the table, and that match must agree
/// with the table for every name in every case, and must not take a non-letter for a letter.
/// </summary>
public sealed class CommandLookupTests
{
    [Fact]
    public void EveryCommandIsFoundInUpperLowerAndMixedCase()
    {
        foreach (CommandSpec spec in Commands.All)
        {
            string upper = spec.Name.ToUpperInvariant();
            string lower = spec.Name.ToLowerInvariant();
            string mixed = string.Concat(upper.Select((c, i) => i % 2 == 0 ? c : char.ToLowerInvariant(c)));
            foreach (string name in new[] { upper, lower, mixed })
            {
                Assert.Same(spec, Commands.Find(Encoding.ASCII.GetBytes(name)));
            }
        }
    }

    [Theory]
    // Each differs from a fast-path name only in bit 0x20 of a non-letter byte, or in one letter.
    [InlineData("G\u0005T")]
    [InlineData("GE\u0014")]
    [InlineData("\u0007ET")]
    [InlineData("S%T")]
    [InlineData("DEK")]
    [InlineData("PIN\u0007")]
    [InlineData("\u0010ING")]
    [InlineData("INC\u0012")]
    [InlineData("MGE\u0014")]
    [InlineData("MS%T")]
    [InlineData("GETS")]
    [InlineData("GE")]
    [InlineData("")]
    public void NearMissesAreNotCommands(string name)
    {
        Assert.Null(Commands.Find(Encoding.Latin1.GetBytes(name)));
    }
}
