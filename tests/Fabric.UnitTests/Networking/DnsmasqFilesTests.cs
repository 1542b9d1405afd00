using System.Collections.Immutable;
using Fabric.Hypervisor;
using Fabric.Hypervisor.Networking;

namespace Fabric.UnitTests.Networking;

public sealed class DnsmasqFilesTests
{
    private static readonly ValidPlan Plan = ValidPlan.From(new NetworkPlan("blue", 4097, "10.20.0.0/24", "10.20.0.1", true, 1400, "10.214.0.10")
    {
        Reservations = [new("02:00:00:00:0b:01", "10.20.0.11"), new("02:00:00:00:0a:01", "10.20.0.10")],
    });

    [Fact]
    public void ConfigText_ServesOnlyReservationsOnTheBridge_WithoutDns()
    {
        var files = new DnsmasqFiles("/var/lib/fabric", 4097);

        Assert.Equal("/var/lib/fabric/networks/001001", files.Directory);
        Assert.Equal("--conf-file=/var/lib/fabric/networks/001001/dnsmasq.conf", files.ConfigArgument);
        Assert.Equal(
            """
            # Fabric network blue (vni 4097): written by the host's network realizer, replaced on change.
            port=0
            interface=fb001001
            bind-interfaces
            except-interface=lo
            dhcp-range=10.20.0.0,static,255.255.255.0,infinite
            dhcp-hostsfile=/var/lib/fabric/networks/001001/hosts
            dhcp-authoritative
            dhcp-option=option:router,10.20.0.1
            dhcp-option=option:mtu,1400
            dhcp-leasefile=/var/lib/fabric/networks/001001/leases
            pid-file=/var/lib/fabric/networks/001001/dnsmasq.pid
            log-facility=/var/lib/fabric/networks/001001/dnsmasq.log
            group=fabric-qemu

            """.ReplaceLineEndings("\n"),
            files.ConfigText(Plan));
    }

    [Fact]
    public void HostsText_IsSortedSoTheSameReservationsGiveTheSameFile()
    {
        Assert.Equal("02:00:00:00:0a:01,10.20.0.10\n02:00:00:00:0b:01,10.20.0.11\n", DnsmasqFiles.HostsText(Plan.Reservations));
        Assert.Equal("", DnsmasqFiles.HostsText(ImmutableArray<ValidReservation>.Empty));
    }

    [Fact]
    public void StaleLeases_AreThoseNoReservationBacks()
    {
        const string Current = "0 02:00:00:00:0a:01 10.20.0.10 * 01:02:00:00:00:0a:01\n0 02:00:00:00:0b:01 10.20.0.11 * *\n";
        const string Moved = "0 02:00:00:00:0a:01 10.20.0.12 * *\n";
        const string Gone = "0 02:00:00:00:0c:01 10.20.0.13 * *\n";

        Assert.False(DnsmasqFiles.HasStaleLeases(Current, Plan.Reservations));
        Assert.False(DnsmasqFiles.HasStaleLeases("", Plan.Reservations));
        Assert.True(DnsmasqFiles.HasStaleLeases(Current + Moved, Plan.Reservations));
        Assert.True(DnsmasqFiles.HasStaleLeases(Gone, Plan.Reservations));
        Assert.Equal(Current, DnsmasqFiles.WithoutStaleLeases(Moved + Current + Gone, Plan.Reservations));
    }
}
