using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

/// <summary>Asserts the one shape every validation failure has: code <c>invalid-spec</c>, message led by the field.</summary>
internal static class InvalidSpec
{
    public static FabricException Expect(string field, Action validate)
    {
        var error = Assert.Throws<FabricException>(validate);
        Assert.Equal(ErrorCodes.InvalidSpec, error.Code);
        Assert.StartsWith(field + ": ", error.Message, StringComparison.Ordinal);

        // Hostile input is echoed escaped: the message is always one printable line.
        Assert.DoesNotContain(error.Message, char.IsControl);
        return error;
    }
}
