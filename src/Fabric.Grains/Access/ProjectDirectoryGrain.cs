using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Fabric.Contracts;
using Fabric.Grains.Persistence;

namespace Fabric.Grains.Access;

/// <summary>
/// Which projects exist (<see cref="IProjectDirectoryGrain"/>): a small persisted set of names, bounded by
/// <see cref="IProjectDirectoryGrain.MaxProjects"/>. Projects add themselves before they are written and remove
/// themselves after, so the set may name a project that does not exist (the listing skips it), never miss one. The
/// default project is never in the set and always in the listing.
/// </summary>
internal sealed class ProjectDirectoryGrain(
    [PersistentState("projects", FabricPersistence.Name)] IPersistentState<ProjectDirectoryRecord> state) : Grain, IProjectDirectoryGrain
{
    async Task IProjectDirectoryGrain.Add(string project)
    {
        Names.Require("project", project);
        if (project == ProjectInfo.Default || state.State.Projects.Contains(project))
        {
            return;
        }

        if (state.State.Projects.Count >= IProjectDirectoryGrain.MaxProjects)
        {
            throw FabricException.InsufficientCapacity($"the fabric holds {IProjectDirectoryGrain.MaxProjects} projects, its limit");
        }

        await WriteAsync(new ProjectDirectoryRecord { Projects = state.State.Projects.Add(project) });
    }

    async Task IProjectDirectoryGrain.Remove(string project)
    {
        if (state.State.Projects.Contains(project))
        {
            await WriteAsync(new ProjectDirectoryRecord { Projects = state.State.Projects.Remove(project) });
        }
    }

    async Task<ImmutableArray<ProjectInfo>> IProjectDirectoryGrain.List()
    {
        // Each project's Get interleaves, so asking them cannot deadlock with one that waits on this grain to add itself.
        var names = state.State.Projects.Add(ProjectInfo.Default);
        var projects = await Task.WhenAll(names.Select(GetAsync));
        return [.. projects.OfType<ProjectInfo>().OrderBy(p => p.Name, StringComparer.Ordinal)];
    }

    private async Task<ProjectInfo?> GetAsync(string project)
    {
        try
        {
            return await GrainFactory.GetGrain<IProjectGrain>(project).Get();
        }
        catch (FabricException ex) when (ex.Code == ErrorCodes.NotFound)
        {
            return null;
        }
    }

    private async Task WriteAsync(ProjectDirectoryRecord next)
    {
        if (await state.TryWriteAsync(next) is { } failure)
        {
            await state.ReadStateAsync();
            throw FabricException.Unavailable($"the project directory could not be written ({failure.Message})");
        }
    }
}

/// <summary>The project directory as stored (version 1).</summary>
[GenerateSerializer, Alias("fabric.ProjectDirectoryRecord")]
public sealed class ProjectDirectoryRecord
{
    [Id(0), JsonPropertyName("v")]
    public int Version { get; set; } = 1;

    [Id(1), JsonPropertyName("projects")]
    public ImmutableHashSet<string> Projects { get; set; } = [];
}
