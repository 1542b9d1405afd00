namespace Fabric.Api;

/// <summary>The API's settings (section <c>Fabric:Api</c>); the silo owns its listener (port and certificate); client certificates are judged against the fabric's CAs, <c>Fabric:Tls:CaFile</c>.</summary>
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

}
