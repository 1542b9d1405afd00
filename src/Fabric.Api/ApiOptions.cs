namespace Fabric.Api;

/// <summary>The API's settings (section <c>Fabric:Api</c>); the silo owns its listeners (ports and server certificate).</summary>
public sealed class ApiOptions
{
    public const string Section = "Fabric:Api";

    /// <summary>The largest request body accepted, in bytes; past it a request is refused with <c>invalid-spec</c>.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// A file holding the first admin token, which <c>./fabric up</c> writes (mode 0600): the silo registers its hash at
    /// start-up unless a token of that id exists (so a revoked one stays revoked). Never logged.
    /// </summary>
    public string? BootstrapTokenFile { get; set; }

    /// <summary>
    /// The CA (PEM) whose client certificates identify callers on the HTTPS listener: subject <c>CN</c> is the user,
    /// <c>O</c> the project, <c>OU</c> the role. Without it, client certificates identify no one.
    /// </summary>
    public string? ClientCaFile { get; set; }
}
