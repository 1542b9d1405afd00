using Fabric.Contracts;
using Microsoft.Extensions.Logging;

namespace Fabric.Grains.Vm;

/// <summary>
/// The VM's charge to its project: taken before anything is placed (so a create past the quota fails first and leaves
/// nothing), given back when a create fails or the VM is deleted. Calls go VM → project only; the project never calls a VM.
/// </summary>
internal sealed partial class VmGrain
{
    private static readonly TimeSpan RefundRetryInterval = TimeSpan.FromSeconds(5);

    /// <summary>Projects whose refund of this VM has not landed yet (its record is gone): retried until it does.</summary>
    private HashSet<string>? _owedRefunds;
    private IGrainTimer? _refundRetry;

    /// <summary>Something is still being retried for a VM that may no longer exist: the activation stays until it lands.</summary>
    private bool Retrying => _catalogRetry is not null || _refundRetry is not null;

    private IProjectGrain ProjectOf(string project) => GrainFactory.GetGrain<IProjectGrain>(project);

    /// <summary>Charges the VM to its project: <c>insufficient-quota</c> naming the limit, <c>not-found</c> for an unknown project.</summary>
    private async Task ChargeAsync(VmSpecRow spec)
    {
        await ProjectOf(spec.Project).Charge(Name, spec.VCpus, spec.MemoryMiB);

        // A refund this project still owed an earlier VM of this name would now take the new VM's charge back.
        _owedRefunds?.Remove(spec.Project);
    }

    /// <summary>Takes the VM's charge off <paramref name="project"/>. A refund that fails only holds quota, and is retried until it lands.</summary>
    private async Task RefundAsync(string project)
    {
        try
        {
            await ProjectOf(project).Refund(Name);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogRefundFailed(Name, project, ex.Message);
            (_owedRefunds ??= new(StringComparer.Ordinal)).Add(project);
            _refundRetry ??= this.RegisterGrainTimer(RetryRefundsAsync, new GrainTimerCreationOptions(RefundRetryInterval, RefundRetryInterval) { KeepAlive = true });
        }
    }

    private async Task RetryRefundsAsync(CancellationToken cancellationToken)
    {
        foreach (var project in _owedRefunds?.ToList() ?? [])
        {
            try
            {
                await ProjectOf(project).Refund(Name);
                _owedRefunds?.Remove(project);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogRefundFailed(Name, project, ex.Message);
            }
        }

        if (_owedRefunds is { Count: > 0 })
        {
            return;
        }

        _owedRefunds = null;
        _refundRetry?.Dispose();
        _refundRetry = null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm}: its charge to project {Project} could not be given back ({Error}); retrying")]
    private partial void LogRefundFailed(string vm, string project, string error);
}
