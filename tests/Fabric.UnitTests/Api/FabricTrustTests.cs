using System.Net;
using System.Net.Security;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Fabric.Client;
using Fabric.TestSupport;
using Fabric.UnitTests.Contracts;

namespace Fabric.UnitTests.Api;

/// <summary>The one check every TLS link makes: the peer's certificate chains to the fabric's CA bundle, nothing else.</summary>
[SupportedOSPlatform("linux")]
public sealed class FabricTrustTests
{
    [Fact]
    public void ACertificateOfTheCa_IsTrusted_AndOneOfAnotherCaIsNot()
    {
        using var directory = new TempDirectory();
        var fabric = TestPki.Create(Path.Combine(directory.Path, "fabric"));
        var foreign = TestPki.Create(Path.Combine(directory.Path, "foreign"), "foreign-ca");
        using var ours = Load(fabric.IssueHost("host-a", IPAddress.Loopback));
        using var theirs = Load(foreign.IssueHost("host-a", IPAddress.Loopback));

        var trust = FabricTrust.Load("ca", fabric.CaFile);

        Assert.True(trust.Trusts(ours));
        Assert.False(trust.Trusts(theirs));
        Assert.False(trust.Trusts(null));
    }

    [Fact]
    public void ABundleOfTwoCas_TrustsBoth_SoACaCanBeRotatedHostByHost()
    {
        using var directory = new TempDirectory();
        var old = TestPki.Create(Path.Combine(directory.Path, "old"), "old-ca");
        var next = TestPki.Create(Path.Combine(directory.Path, "next"), "next-ca");
        var bundle = directory.WriteFile("bundle.crt", File.ReadAllText(old.CaFile) + "\n" + File.ReadAllText(next.CaFile) + "\n");
        using var fromOld = Load(old.IssueHost("host-a", IPAddress.Loopback));
        using var fromNext = Load(next.IssueHost("host-b", IPAddress.Loopback));

        var trust = FabricTrust.Load("ca", bundle);

        Assert.Equal(2, trust.Roots.Count);
        Assert.True(trust.Trusts(fromOld));
        Assert.True(trust.Trusts(fromNext));
    }

    [Fact]
    public void AServerCertificate_MustAlsoNameWhatWasDialled()
    {
        using var directory = new TempDirectory();
        var fabric = TestPki.Create(Path.Combine(directory.Path, "fabric"));
        using var server = Load(fabric.IssueHost("host-a", IPAddress.Loopback));
        var trust = FabricTrust.Load("ca", fabric.CaFile);

        // The platform's verdict on the chain (untrusted root: it asks the system's store) is not the fabric's.
        Assert.True(trust.TrustsServer(server, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(trust.TrustsServer(server, SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.False(trust.TrustsServer(null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    [Fact]
    public void AFileWithoutACertificate_IsInvalidSpecNamingTheField()
    {
        using var directory = new TempDirectory();
        var empty = directory.WriteFile("empty.crt", "not a certificate\n");

        var error = InvalidSpec.Expect("FABRIC_CA_FILE", () => FabricTrust.Load("FABRIC_CA_FILE", empty));

        Assert.Contains("holds no certificate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FabricCaFile_ComesFromTheEnvironment_ElseFromTheSavedLogin()
    {
        using var home = new TempDirectory();
        var tokenFile = home.WriteFile("admin.token", "fabric_0123abcd_s3cret\n");
        var path = FabricApiConfigFile.PathFor(name => name == "HOME" ? home.Path : null)!;
        FabricApiConfigFile.Write(path, new Uri("https://127.0.0.1:8080/"), null, tokenFile, "/saved/ca.crt");

        Assert.Equal("/saved/ca.crt", FabricApiConfigFile.Read(path)!.CaFile);
        Assert.Equal("/saved/ca.crt", FabricApiConnection.FromEnvironment(name => name == "HOME" ? home.Path : null).CaFile);
        Assert.Equal("/env/ca.crt", FabricApiConnection.FromEnvironment(name => name switch { "HOME" => home.Path, "FABRIC_CA_FILE" => "/env/ca.crt", _ => null }).CaFile);
    }

    private static X509Certificate2 Load((string Certificate, string Key) files) => X509CertificateLoader.LoadCertificateFromFile(files.Certificate);
}
