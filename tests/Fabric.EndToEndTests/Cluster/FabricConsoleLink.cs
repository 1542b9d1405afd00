using System.Text.RegularExpressions;
using Fabric.Client;
using Fabric.EndToEndTests.Driver;

namespace Fabric.EndToEndTests.Cluster;

/// <summary>A VM's console through the fabric (<c>vm console --send</c> and the console log), for a <see cref="GuestShell"/>.</summary>
internal sealed class FabricConsoleLink(FabricClient client, string vm) : IGuestConsoleLink
{
    private string _evidence = "";

    public static GuestShell Shell(FabricClient client, string vm) => new(vm, new FabricConsoleLink(client, vm));

    public Task SendLineAsync(string line) => client.SendConsoleAsync(vm, line);

    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout)
    {
        try
        {
            return await new VmConsole(client, vm).WaitForAsync(pattern, timeout: timeout);
        }
        catch (TimeoutException ex)
        {
            _evidence = ex.Message;
            throw;
        }
    }

    public string Evidence() => _evidence;
}
