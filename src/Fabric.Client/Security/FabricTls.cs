using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Fabric.Contracts;
using Orleans.Connections.Security;

namespace Fabric.Client;

/// <summary>
/// A fabric member's TLS identity, as files (never their contents in settings): the CA bundle it trusts, and its
/// certificate and private key (PEM) — a host's <c>.fabric/pki/&lt;host&gt;.{crt,key}</c>, or a client's. Settings
/// <c>Fabric:Tls:CaFile</c>, <c>CertificateFile</c>, <c>KeyFile</c> (docs/tls.md).
/// </summary>
public sealed record FabricTls(string CaFile, string CertificateFile, string KeyFile)
{
    /// <summary>The CAs of <see cref="CaFile"/>.</summary>
    public FabricTrust LoadTrust() => FabricTrust.Load("Fabric:Tls:CaFile", CaFile);

    /// <summary>The certificate with its private key, or <c>invalid-spec</c> naming the file at fault.</summary>
    public X509Certificate2 LoadCertificate()
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(CertificateFile, KeyFile);

            // A PKCS#12 round trip gives a certificate whose key TLS on Linux can use for client authentication too.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            // The message names the files, never their content.
            throw FabricException.InvalidSpec("Fabric:Tls:CertificateFile", $"cannot load the certificate '{Names.Printable(CertificateFile)}' with its key '{Names.Printable(KeyFile)}': {ex.GetType().Name}");
        }
    }

    /// <summary>
    /// Orleans connections (silo-to-silo, gateway): both ends present their certificate and each accepts only one that
    /// chains to the fabric's CAs. Addresses, not names, identify silos, so the certificate's names are not compared.
    /// </summary>
    public void Configure(TlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var trust = LoadTrust();
        options.LocalCertificate = LoadCertificate();
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.CheckCertificateRevocation = false;
        options.RemoteCertificateValidation = (certificate, _, _) => trust.Trusts(certificate);
    }
}
