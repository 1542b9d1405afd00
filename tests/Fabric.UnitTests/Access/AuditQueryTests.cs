using Fabric.Contracts;
using Fabric.UnitTests.Contracts;

namespace Fabric.UnitTests.Access;

public sealed class AuditQueryTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(AuditQuery.MaxLimit + 1)]
    public void Validate_RefusesALimitOutOfRange(int limit)
    {
        var error = InvalidSpec.Expect("limit", () => new AuditQuery { Limit = limit }.Validate());
        Assert.Equal($"limit: {limit} is out of range 1–{AuditQuery.MaxLimit}", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(AuditQuery.MaxLimit)]
    public void Validate_AcceptsTheBoundsOfTheLimit(int limit)
    {
        var query = new AuditQuery { Limit = limit };
        Assert.Same(query, query.Validate());
    }

    [Fact]
    public void Validate_RefusesAProjectOrUserThatIsNotAName()
    {
        InvalidSpec.Expect("project", () => new AuditQuery { Project = "../etc" }.Validate());
        InvalidSpec.Expect("user", () => new AuditQuery { User = "Admin\n" }.Validate());
    }
}
