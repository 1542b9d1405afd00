using Fabric.Contracts;

namespace Fabric.UnitTests.Contracts;

public sealed class NamesTests
{
    public static TheoryData<string> HostileNames() => new(
        "../etc", // path traversal
        "..",
        "a/b",
        "/abs",
        "a\\b",
        "a,b", // QEMU splits options on commas
        "a=b",
        "a b",
        " web",
        "Web", // uppercase
        "WEB",
        "wеb", // Cyrillic 'е' (U+0435)
        "ｗｅｂ", // fullwidth letters
        "web\u200b", // zero-width space
        "١٢٣", // Arabic-Indic digits
        "café",
        "web\n", // trailing newline: '$' in a .NET regex also matches before a final '\n'
        "web\r\n",
        "we\nb",
        "\nweb",
        "web\0",
        "web\t",
        "web\u001b[31m",
        "-web", // leading/trailing '-'
        "web-",
        "-",
        "a.b",
        "a_b",
        "a:b",
        "*",
        "$(reboot)");

    [Theory]
    [InlineData("a")]
    [InlineData("0")]
    [InlineData("web-1")]
    [InlineData("a-b-c")]
    [InlineData("1a")]
    [InlineData("a--b")]
    public void Require_AcceptsDnsLabels(string name)
    {
        Assert.Equal(name, Names.Require("name", name));
        Assert.True(Names.IsValid(name));
    }

    [Fact]
    public void Require_Accepts63Characters()
    {
        var name = new string('a', 63);

        Assert.Equal(name, Names.Require("name", name));
    }

    [Fact]
    public void Require_Rejects64CharactersNamingTheLimit()
    {
        var error = InvalidSpec.Expect("name", () => Names.Require("name", new string('a', 64)));

        Assert.Contains("63", error.Message, StringComparison.Ordinal);
        Assert.False(Names.IsValid(new string('a', 64)));
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public void Require_RejectsMissingName(string? name)
    {
        var error = InvalidSpec.Expect("image", () => Names.Require("image", name));

        Assert.Equal("image: is required", error.Message);
        Assert.False(Names.IsValid(name));
    }

    [Theory]
    [MemberData(nameof(HostileNames))]
    public void Require_RejectsHostileNames(string name)
    {
        InvalidSpec.Expect("placement.host", () => Names.Require("placement.host", name));
        Assert.False(Names.IsValid(name));
    }

    [Fact]
    public void Printable_EscapesControlCharactersAndCapsLength()
    {
        Assert.Equal("a\\u000ab\\u0000", Names.Printable("a\nb\0"));
        Assert.Equal(new string('x', 80) + "…", Names.Printable(new string('x', 500)));
    }
}
