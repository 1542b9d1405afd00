using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabric.TestSupport;

/// <summary>
/// A certificate authority made for one test run: host certificates (silos, Redis, in-cluster clients) and client
/// certificates whose subject names a user, project and role (as <c>./fabric up</c> and <c>./fabric cert</c> make them
/// with openssl). Files are PEM, keys mode 0600.
/// </summary>
public sealed class TestPki
{
    private readonly X509Certificate2 _ca;

    private TestPki(string directory, string name)
    {
        Directory = directory;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(2));
        CaFile = Path.Combine(directory, $"{name}.crt");
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
    }

    public string Directory { get; }

    /// <summary>The CA's certificate (PEM).</summary>
    public string CaFile { get; }

    public static TestPki Create(string directory, string name = "fabric-ca")
    {
        System.IO.Directory.CreateDirectory(directory);
        return new TestPki(directory, name);
    }

    /// <summary>
    /// A certificate as <c>./fabric up</c> makes a host's (serverAuth and clientAuth, naming <paramref name="name"/> and
    /// <paramref name="addresses"/>): silos, Redis and in-cluster clients present one. Returns its certificate and key files.
    /// </summary>
    public (string Certificate, string Key) IssueHost(string name, params IPAddress[] addresses)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        foreach (var address in addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        return Write(name, key, Sign(request));
    }

    /// <summary>A client certificate whose subject is <c>CN=user, O=project, OU=role</c>, as a certificate with its private key.</summary>
    public X509Certificate2 IssueClient(string user, string project, string role)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={user}, O={project}, OU={role}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var signed = Sign(request);
        using var withKey = signed.CopyWithPrivateKey(key);

        // A PKCS#12 round trip gives a certificate whose key TLS on Linux can use.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    private X509Certificate2 Sign(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        return request.Create(_ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(16));
    }

    private (string Certificate, string Key) Write(string name, ECDsa key, X509Certificate2 certificate)
    {
        var certificateFile = Path.Combine(Directory, $"{name}.crt");
        var keyFile = Path.Combine(Directory, $"{name}.key");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        certificate.Dispose();
        return (certificateFile, keyFile);
    }
}
