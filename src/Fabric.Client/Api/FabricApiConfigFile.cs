using System.Text.Json;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// The settings <c>fabricctl login</c> saves: <c>$XDG_CONFIG_HOME/fabric/config.json</c> (default
/// <c>~/.config/fabric/config.json</c>), mode 0600 in a 0700 directory, holding <c>{"api": URL, "tokenFile": PATH}</c>
/// (the token stays in its own file) or <c>{"api": URL, "token": TOKEN}</c>, and <c>"caFile": PATH</c>, the CA bundle
/// the API's certificate must chain to.
/// </summary>
public sealed record FabricApiConfigFile(string Path, string Api, string? Token, string? TokenFile)
{
    /// <summary>The fabric's CA bundle (PEM) the API's certificate must chain to; null to trust the system's CAs.</summary>
    public string? CaFile { get; init; }

    /// <summary>A config file is a few hundred bytes; anything much larger is not one.</summary>
    private const int MaxBytes = 64 * 1024;

    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OthersMayAccess = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The config file's path: under <c>XDG_CONFIG_HOME</c> (when absolute), else <c>HOME/.config</c>; null without either.</summary>
    public static string? PathFor(Func<string, string?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var root = variables("XDG_CONFIG_HOME") is { Length: > 0 } xdg && System.IO.Path.IsPathRooted(xdg) ? xdg
            : variables("HOME") is { Length: > 0 } home ? System.IO.Path.Combine(home, ".config")
            : null;
        return root is null ? null : System.IO.Path.Combine(root, "fabric", "config.json");
    }

    /// <summary>The config file at <paramref name="path"/>; null when there is none; <c>invalid-spec</c> naming it when it is unusable.</summary>
    public static FabricApiConfigFile? Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return null;
            }

            if (info.Length > MaxBytes)
            {
                throw Invalid(path, $"is {info.Length} bytes; a config file is at most {MaxBytes}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Invalid(path, $"cannot be read: {ex.Message}");
        }

        string? api, token, tokenFile, caFile;
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            api = root.ValueKind == JsonValueKind.Object ? Text(root, "api") : throw Invalid(path, "is not a JSON object");
            token = Text(root, "token");
            tokenFile = Text(root, "tokenFile");
            caFile = Text(root, "caFile");
        }
        catch (JsonException ex)
        {
            throw Invalid(path, $"is not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException)
        {
            throw Invalid(path, "has a field of the wrong type (api, token, tokenFile and caFile are strings)");
        }

        if (api is null)
        {
            throw Invalid(path, "has no api");
        }

        if (token is null && tokenFile is null)
        {
            throw Invalid(path, "has neither token nor tokenFile; run fabricctl login again");
        }

        // Like ssh with a private key: a token readable by others is refused, not used.
        if (token is not null && !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OthersMayAccess) != 0)
        {
            throw Invalid(path, $"holds a token but others may read it (mode {Octal(File.GetUnixFileMode(path))}); chmod 600 it");
        }

        return new FabricApiConfigFile(path, api, token, tokenFile) { CaFile = caFile };
    }

    /// <summary>
    /// Saves a config file at <paramref name="path"/> (replacing any): the directory is made 0700, the file 0600, and it
    /// appears whole or not at all. Give <paramref name="tokenFile"/> (an absolute path) to keep the secret out of it.
    /// </summary>
    public static FabricApiConfigFile Write(string path, Uri api, string? token, string? tokenFile) => Write(path, api, token, tokenFile, caFile: null);

    /// <summary>As above, also naming the CA bundle (<paramref name="caFile"/>, an absolute path) the API's certificate must chain to.</summary>
    public static FabricApiConfigFile Write(string path, Uri api, string? token, string? tokenFile, string? caFile)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(api);
        if ((token is null) == (tokenFile is null))
        {
            throw new ArgumentException("give exactly one of token and tokenFile");
        }

        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, OwnerOnlyDirectory);
                File.SetUnixFileMode(directory, OwnerOnlyDirectory);
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnlyFile;
            }

            File.Delete(temporary);
            using (var stream = new FileStream(temporary, options))
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartObject();
                writer.WriteString("api", api.ToString());
                if (tokenFile is not null)
                {
                    writer.WriteString("tokenFile", tokenFile);
                }
                else
                {
                    writer.WriteString("token", token);
                }

                if (caFile is not null)
                {
                    writer.WriteString("caFile", caFile);
                }

                writer.WriteEndObject();
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw Invalid(path, $"cannot be written: {ex.Message}");
        }

        return new FabricApiConfigFile(path, api.ToString(), token, tokenFile) { CaFile = caFile };
    }

    /// <summary>The token this file gives: its own, or its token file's content.</summary>
    public string ReadToken() => Token is not null
        ? FabricApiConnection.RequireToken($"{Path}: token", Token)
        : FabricApiConnection.ReadTokenFile($"{Path}: tokenFile", TokenFile!);

    /// <summary>Hides the token.</summary>
    public override string ToString() => Token is null ? $"{Path} (api {Api}, token file {TokenFile})" : $"{Path} (api {Api}, token inline)";

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value.GetString() : null;

    private static FabricException Invalid(string path, string reason) => FabricException.InvalidSpec("config", $"'{Names.Printable(path)}' {reason}");

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);
}
