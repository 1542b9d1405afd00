using System.Security.Cryptography.X509Certificates;
using Fabric.Client;
using Fabric.Contracts;
using Microsoft.AspNetCore.Authentication.Certificate;

namespace Fabric.Api.Security;

/// <summary>
/// Client certificates as identities: a certificate the fabric's CA signed names its holder in its subject —
/// <c>CN</c> the user, <c>O</c> the project, <c>OU</c> the role (<c>admin</c>, <c>operator</c>, <c>viewer</c>) — much as
/// Kubernetes reads <c>CN</c> and <c>O</c>. The CA's signature is what makes those claims true; the certificate's own
/// validity period bounds them. A certificate from any other CA, or one whose subject names no valid role, is refused.
/// </summary>
public static class ClientCertificates
{
    public const string SchemeName = "FabricCertificate";

    /// <summary>Trust only the fabric's CAs' certificates, and make a caller of each one they signed.</summary>
    public static void Configure(CertificateAuthenticationOptions options, FabricTrust trust)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(trust);
        options.AllowedCertificateTypes = CertificateTypes.Chained;
        options.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
        options.CustomTrustStore.AddRange(trust.Roots);
        options.RevocationMode = X509RevocationMode.NoCheck;
        options.ValidateCertificateUse = true;
        options.Events = new CertificateAuthenticationEvents
        {
            OnCertificateValidated = context =>
            {
                try
                {
                    TokenAuthenticationHandler.SetCaller(context.HttpContext, new Caller(IdentityOf(context.ClientCertificate)));
                    context.Success();
                }
                catch (FabricException ex)
                {
                    context.Fail(ex.Message);
                }

                return Task.CompletedTask;
            },
        };
    }

    /// <summary>The identity a certificate's subject claims, or <c>invalid-spec</c> naming the subject part at fault.</summary>
    public static TokenInfo IdentityOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        string? Part(string oid) => certificate.SubjectName.EnumerateRelativeDistinguishedNames()
            .Where(n => !n.HasMultipleElements && n.GetSingleElementType().Value == oid)
            .Select(n => n.GetSingleElementValue())
            .FirstOrDefault();

        return new TokenInfo
        {
            Id = "cert-" + certificate.Thumbprint[..12].ToLowerInvariant(),
            User = Names.Require("certificate subject CN", Part("2.5.4.3")),
            Project = Names.Require("certificate subject O", Part("2.5.4.10") ?? ProjectInfo.Default),
            Role = Roles.Parse("certificate subject OU", Part("2.5.4.11")),
            CreatedAt = certificate.NotBefore.ToUniversalTime(),
            ExpiresAt = certificate.NotAfter.ToUniversalTime(),
        };
    }
}
