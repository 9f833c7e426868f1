using System.Reflection;

namespace Kevents.Native.Tests;

/// <summary>Every errno Errno defines is named by <see cref="Errno.Name"/> and <see cref="Errno.Describe"/>.</summary>
public sealed class ErrnoNamesTests
{
    [Fact]
    public void EveryErrnoConstantHasItsNameAndDescription()
    {
        FieldInfo[] constants = typeof(Errno).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(int))
            .ToArray();
        Assert.True(constants.Length >= 40, $"only {constants.Length} errno constants");
        Assert.Equal(constants.Length, constants.Select(f => (int)f.GetRawConstantValue()!).Distinct().Count());
        foreach (FieldInfo constant in constants)
        {
            int errno = (int)constant.GetRawConstantValue()!;
            Assert.Equal(constant.Name, Errno.Name(errno));
            Assert.Equal(constant.Name, Errno.Name(-errno));
            Assert.StartsWith(constant.Name + " (", Errno.Describe(-errno));
        }
    }
}
