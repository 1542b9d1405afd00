using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Fabric.Cli.Commands;
using Fabric.Client;
using Fabric.Contracts;

namespace Fabric.Cli.Output;

/// <summary>
/// The CLI's JSON: the API's own (<see cref="FabricApiJson"/>: <c>ApiJson</c>'s conventions, every type described at
/// compile time, so that the natively compiled fabricctl needs no reflection), indented for people, compact for streams.
/// </summary>
internal static class Json
{
    public static readonly JsonSerializerOptions Indented = FabricApiJson.With(CliJsonContext.Default, indented: true);

    /// <summary>One object per line, for streams (<c>vm watch -o json</c>).</summary>
    public static readonly JsonSerializerOptions Compact = FabricApiJson.With(CliJsonContext.Default, indented: false);

    public static string Serialize<T>(T value, bool indented = true) => Serialize(value, indented ? Indented : Compact);

    /// <summary>Writes <paramref name="value"/> as its declared type when the options know it (a list interface), else as its own.</summary>
    internal static string Serialize<T>(T value, JsonSerializerOptions options) => JsonSerializer.Serialize(value, InfoFor(value, options));

    public static Task WriteAsync<T>(TextWriter writer, T value, bool indented = true)
    {
        ArgumentNullException.ThrowIfNull(writer);
        return writer.WriteLineAsync(Serialize(value, indented));
    }

    /// <summary>The declared type's description when there is one (a list interface), else the value's own type's.</summary>
    private static JsonTypeInfo InfoFor<T>(T value, JsonSerializerOptions options) =>
        typeof(T) != typeof(object) && options.TryGetTypeInfo(typeof(T), out var declared) ? declared : options.GetTypeInfo(value?.GetType() ?? typeof(T));
}

/// <summary>What <c>host drain -o json</c> prints.</summary>
internal sealed record DrainOutcome(string Host, ImmutableArray<DrainResult> Results);

/// <summary>What deleting an object by name prints with <c>-o json</c>.</summary>
internal sealed record DeletedObject(string Name, bool Deleted);

/// <summary>What deleting a volume or image of a pool prints with <c>-o json</c>.</summary>
internal sealed record DeletedPoolObject(string Pool, string Name, bool Deleted);

/// <summary>What <c>vm delete -o json</c> prints: the VM's name and its final state.</summary>
internal sealed record DeletedVm(string Name, VmState State);

/// <summary>What <c>host forget -o json</c> prints.</summary>
internal sealed record ForgottenHost(string Name, bool Forgotten);

/// <summary>What <c>net rule remove -o json</c> prints.</summary>
internal sealed record RemovedRule(string Network, int Id, bool Removed);

/// <summary>The CLI's own JSON shapes, and the list types its commands print.</summary>
[JsonSerializable(typeof(DrainOutcome))]
[JsonSerializable(typeof(DeletedObject))]
[JsonSerializable(typeof(DeletedPoolObject))]
[JsonSerializable(typeof(DeletedVm))]
[JsonSerializable(typeof(ForgottenHost))]
[JsonSerializable(typeof(RemovedRule))]
[JsonSerializable(typeof(VmCommands.DeletedSnapshot))]
[JsonSerializable(typeof(AccessCommands.LoggedIn))]
[JsonSerializable(typeof(IReadOnlyList<BulkResultView>))]
[JsonSerializable(typeof(IReadOnlyList<PoolInfo>))]
[JsonSerializable(typeof(IReadOnlyList<VolumeInfo>))]
[JsonSerializable(typeof(IReadOnlyList<ImageInfo>))]
[JsonSerializable(typeof(IReadOnlyList<NetworkInfo>))]
[JsonSerializable(typeof(IReadOnlyList<NetworkRule>))]
[JsonSerializable(typeof(IReadOnlyList<ProjectInfo>))]
[JsonSerializable(typeof(IReadOnlyList<TokenInfo>))]
[JsonSerializable(typeof(IReadOnlyList<AuditEntry>))]
[JsonSerializable(typeof(ImmutableArray<HostInfo>))]
[JsonSerializable(typeof(ImmutableArray<VmInfo>))]
[JsonSerializable(typeof(ImmutableArray<SnapshotInfo>))]
[JsonSerializable(typeof(HostInfo))]
[JsonSerializable(typeof(VmInfo))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(MigrationInfo))]
[JsonSerializable(typeof(FleetEvent))]
[JsonSerializable(typeof(PoolInfo))]
[JsonSerializable(typeof(VolumeInfo))]
[JsonSerializable(typeof(NetworkInfo))]
[JsonSerializable(typeof(NetworkRule))]
[JsonSerializable(typeof(ProjectInfo))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(IssuedToken))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
