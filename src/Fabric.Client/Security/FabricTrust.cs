using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// The fabric's trust anchors: the CA certificates of a PEM bundle (<c>.fabric/pki/ca.crt</c>). Every TLS link of the
/// fabric — Orleans silo-to-silo and gateway, the API's HTTPS, Redis — accepts a peer only when its certificate chains
/// to one of them; the system's store is never consulted. A bundle of two CAs lets a CA be rotated host by host
/// (docs/tls.md).
/// </summary>
public sealed class FabricTrust
{
    private FabricTrust(X509Certificate2Collection roots)
    {
        Roots = roots;
    }

    /// <summary>The CA certificates trusted.</summary>
    public X509Certificate2Collection Roots { get; }

    /// <summary>The CAs of the PEM file <paramref name="path"/>, or <c>invalid-spec</c> naming <paramref name="field"/>.</summary>
    public static FabricTrust Load(string field, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw FabricException.InvalidSpec(field, $"cannot read the CA bundle '{Names.Printable(path)}': {ex.Message}");
        }

        return roots.Count > 0 ? new FabricTrust(roots) : throw FabricException.InvalidSpec(field, $"'{Names.Printable(path)}' holds no certificate");
    }

    /// <summary>Whether <paramref name="certificate"/> chains to one of <see cref="Roots"/> and is valid now.</summary>
    public bool Trusts(X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Roots);
        // The fabric's CA publishes no revocation lists: a compromised certificate is handled by rotating (docs/tls.md).
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        try
        {
            return chain.Build(leaf);
        }
        finally
        {
            if (!ReferenceEquals(leaf, certificate))
            {
                leaf.Dispose();
            }

            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }

    /// <summary>
    /// A client's check of a server (the API, Redis): the certificate chains to the fabric's CAs and names the address or
    /// host dialled. The platform's own verdict on the chain is ignored: it judges against the system store.
    /// </summary>
    public bool TrustsServer(X509Certificate? certificate, SslPolicyErrors errors) =>
        (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0 && Trusts(certificate);
}
