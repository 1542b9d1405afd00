using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Fabric.Contracts;

namespace Fabric.Client;

/// <summary>
/// <see cref="ApiJson"/>'s JSON with the API's types described at compile time: the same text (FabricApiJsonTests keep
/// the two equal), without the reflection, and the code it emits and compiles, that would make each program's first
/// call slow, and that a natively compiled program (fabricctl) does not have. Enums are written by name through the
/// converters their types declare. Types it does not know (anonymous objects, say) work through reflection where the
/// program has it.
/// </summary>
public static class FabricApiJson
{
    /// <summary>One object per line: requests, answers, event streams.</summary>
    public static readonly JsonSerializerOptions Compact = Create(indented: false, null);

    /// <summary>For people reading it: <c>fabricctl -o json</c>.</summary>
    public static readonly JsonSerializerOptions Indented = Create(indented: true, null);

    /// <summary>The same conventions, also knowing the types <paramref name="resolver"/> describes (a program's own).</summary>
    public static JsonSerializerOptions With(IJsonTypeInfoResolver resolver, bool indented)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        return Create(indented, resolver);
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection serves only where it is enabled (IsReflectionEnabledByDefault); trimmed and native programs drop that branch.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Reflection serves only where it is enabled (IsReflectionEnabledByDefault); trimmed and native programs drop that branch.")]
    private static JsonSerializerOptions Create(bool indented, IJsonTypeInfoResolver? first)
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = indented,
            PropertyNamingPolicy = new FabricNamingPolicy(),
            DictionaryKeyPolicy = null,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,

            // Output is read by programs, not embedded in HTML: keep '<', '>' and '+' readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        IJsonTypeInfoResolver[] resolvers = first is null ? [FabricApiJsonContext.Default] : [first, FabricApiJsonContext.Default];
        options.TypeInfoResolver = JsonSerializer.IsReflectionEnabledByDefault
            ? JsonTypeInfoResolver.Combine([.. resolvers, new DefaultJsonTypeInfoResolver()])
            : JsonTypeInfoResolver.Combine(resolvers);
        options.MakeReadOnly();
        return options;
    }

    /// <summary>The answer's <typeparamref name="T"/> as these options describe it.</summary>
    internal static JsonTypeInfo<T> Info<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
}

/// <summary>The API's types for <see cref="FabricApiJson"/> (names come from the options it runs with, not from here).</summary>
[JsonSerializable(typeof(HostInfo))]
[JsonSerializable(typeof(ImmutableArray<HostInfo>))]
[JsonSerializable(typeof(VmSpec))]
[JsonSerializable(typeof(VmInfo))]
[JsonSerializable(typeof(ImmutableArray<VmInfo>))]
[JsonSerializable(typeof(ConsoleChunk))]
[JsonSerializable(typeof(FleetEvent))]
[JsonSerializable(typeof(MigrationRequest))]
[JsonSerializable(typeof(MigrationInfo))]
[JsonSerializable(typeof(SnapshotInfo))]
[JsonSerializable(typeof(ImmutableArray<SnapshotInfo>))]
[JsonSerializable(typeof(PoolSpec))]
[JsonSerializable(typeof(PoolInfo))]
[JsonSerializable(typeof(ImmutableArray<PoolInfo>))]
[JsonSerializable(typeof(VolumeSpec))]
[JsonSerializable(typeof(VolumeInfo))]
[JsonSerializable(typeof(ImmutableArray<VolumeInfo>))]
[JsonSerializable(typeof(ImageInfo))]
[JsonSerializable(typeof(ImmutableArray<ImageInfo>))]
[JsonSerializable(typeof(NetworkSpec))]
[JsonSerializable(typeof(NetworkInfo))]
[JsonSerializable(typeof(ImmutableArray<NetworkInfo>))]
[JsonSerializable(typeof(NetworkRule))]
[JsonSerializable(typeof(ImmutableArray<NetworkRule>))]
[JsonSerializable(typeof(NicRequest))]
[JsonSerializable(typeof(ProjectQuota))]
[JsonSerializable(typeof(ProjectInfo))]
[JsonSerializable(typeof(ImmutableArray<ProjectInfo>))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenInfo))]
[JsonSerializable(typeof(ImmutableArray<TokenInfo>))]
[JsonSerializable(typeof(IssuedToken))]
[JsonSerializable(typeof(AuditEntry))]
[JsonSerializable(typeof(ImmutableArray<AuditEntry>))]
[JsonSerializable(typeof(ImmutableArray<BulkResult>))]
[JsonSerializable(typeof(ImmutableArray<DrainResult>))]
[JsonSerializable(typeof(FabricApiClient.NameBody))]
[JsonSerializable(typeof(FabricApiClient.LineBody))]
[JsonSerializable(typeof(FabricApiClient.ResizeBody))]
[JsonSerializable(typeof(FabricApiClient.ImageBody))]
[JsonSerializable(typeof(FabricApiClient.DiskBody))]
[JsonSerializable(typeof(FabricApiClient.ProjectBody))]
internal sealed partial class FabricApiJsonContext : JsonSerializerContext;
