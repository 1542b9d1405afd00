using System.Security.Authentication;
using Fabric.Contracts;
using StackExchange.Redis;

namespace Fabric.Client;

/// <summary>
/// How every part of the fabric connects to its Redis: <c>host:port</c>, the password from a file (0600, never in
/// settings, arguments or logs), and TLS checked against the fabric's CAs.
/// </summary>
public static class FabricRedis
{
    /// <summary>A password file holds one line; anything much larger is not one.</summary>
    private const int MaxPasswordBytes = 1024;

    /// <summary>The connection options for Redis at <paramref name="address"/> (<c>host:port</c>).</summary>
    public static ConfigurationOptions Options(string address, string? passwordFile, FabricTrust? trust)
    {
        var options = ConfigurationOptions.Parse(address);
        if (passwordFile is not null)
        {
            options.Password = ReadPassword(passwordFile);
        }

        if (trust is not null)
        {
            options.Ssl = true;
            options.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            options.CertificateValidation += (_, certificate, _, errors) => trust.TrustsServer(certificate, errors);
        }

        return options;
    }

    /// <summary>The password in <paramref name="path"/> (trimmed), or <c>invalid-spec</c> that names the file but never shows it.</summary>
    public static string ReadPassword(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        const string Field = "Fabric:Redis:PasswordFile";
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxPasswordBytes)
            {
                throw FabricException.InvalidSpec(Field, $"'{Names.Printable(path)}' is {info.Length} bytes; a password file holds one line");
            }

            text = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw FabricException.InvalidSpec(Field, $"cannot read '{Names.Printable(path)}': {ex.GetType().Name}");
        }

        return text.Length > 0 ? text : throw FabricException.InvalidSpec(Field, $"'{Names.Printable(path)}' is empty");
    }
}
