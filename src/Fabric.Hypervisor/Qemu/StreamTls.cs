using System.Text.Json.Nodes;

namespace Fabric.Hypervisor.Qemu;

/// <summary>
/// The host's certificate for QEMU's streams to other hosts (live migration and the NBD disk mirror): PEM files of the
/// fabric CA bundle, the host's certificate and its private key. One certificate serves both ends, since a host is a
/// migration's source one day and its target the next (it carries the serverAuth and clientAuth usages).
/// </summary>
public sealed record StreamTlsFiles(string CaFile, string CertificateFile, string KeyFile)
{
    /// <summary>Throws unless all three files exist.</summary>
    public void EnsureReadable()
    {
        foreach (var (name, path) in new[] { ("CA", CaFile), ("certificate", CertificateFile), ("key", KeyFile) })
        {
            if (!File.Exists(path))
            {
                throw new HypervisorException(HypervisorErrorKind.InvalidRequest, $"stream TLS {name} file '{path}' does not exist");
            }
        }
    }
}

/// <summary>
/// QEMU's <c>tls-creds-x509</c> objects for a VM's streams. QEMU reads its credentials from a directory with fixed file
/// names, as the VM's own (unprivileged) user: the driver copies the host's files into the VM's private directory for
/// the moment the object is created (QEMU loads them then), and removes the copies at once, so no key lingers where
/// the VM's user could read it later. Both ends verify the peer against the fabric CA (<c>verify-peer</c>); the client
/// also checks that the server's certificate names the address it dialled.
/// </summary>
internal static class StreamTls
{
    public const string ServerId = "fabric-tls-server";
    public const string ClientId = "fabric-tls-client";

    /// <summary>Creates (or re-creates, to pick up a rotated certificate) the VM's credentials object for one end.</summary>
    public static async Task<string> CreateAsync(QemuVm qemu, StreamTlsFiles files, string credentialsDirectory, bool server, Action<string> giveToVm, CancellationToken cancellationToken)
    {
        files.EnsureReadable();
        var id = server ? ServerId : ClientId;
        var role = server ? "server" : "client";
        if (Directory.Exists(credentialsDirectory))
        {
            // Left by a driver that died between the copy and the clean-up.
            Directory.Delete(credentialsDirectory, recursive: true);
        }

        Linux.FileSystem.CreateOwnDirectory(credentialsDirectory);
        try
        {
            Copy(files.CaFile, Path.Combine(credentialsDirectory, "ca-cert.pem"), giveToVm);
            Copy(files.CertificateFile, Path.Combine(credentialsDirectory, $"{role}-cert.pem"), giveToVm);
            Copy(files.KeyFile, Path.Combine(credentialsDirectory, $"{role}-key.pem"), giveToVm);
            giveToVm(credentialsDirectory);
            await DeleteAsync(qemu, id, cancellationToken).ConfigureAwait(false);
            var arguments = new JsonObject
            {
                ["qom-type"] = "tls-creds-x509",
                ["id"] = id,
                ["dir"] = credentialsDirectory,
                ["endpoint"] = role,
                ["verify-peer"] = true,
            };
            try
            {
                await qemu.CommandAsync("object-add", arguments, cancellationToken).ConfigureAwait(false);
            }
            catch (HypervisorException ex) when (ex.Message.Contains("duplicate", StringComparison.OrdinalIgnoreCase))
            {
                // Still held by a stream under way (a mirror's NBD client while the memory follows): keep using it.
            }

            return id;
        }
        finally
        {
            Directory.Delete(credentialsDirectory, recursive: true);
        }
    }

    private static async Task DeleteAsync(QemuVm qemu, string id, CancellationToken cancellationToken)
    {
        try
        {
            await qemu.CommandAsync("object-del", new JsonObject { ["id"] = id }, cancellationToken).ConfigureAwait(false);
        }
        catch (HypervisorException)
        {
            // None yet: the first stream of this process.
        }
    }

    private static void Copy(string from, string to, Action<string> giveToVm)
    {
        // Created 0600 before a byte is written: the key is never readable by anyone else, even for a moment.
        Linux.FileSystem.CreateExclusive(to);
        using (var target = new FileStream(to, FileMode.Open, FileAccess.Write))
        using (var source = File.OpenRead(from))
        {
            source.CopyTo(target);
        }

        giveToVm(to);
    }
}
