using Fabric.Hypervisor;
using Fabric.Hypervisor.Networking;

namespace Fabric.UnitTests.Networking;

/// <summary>The nftables text of a network: exactly what is applied, from checked values only.</summary>
public sealed class NftRulesetTests
{
    private static readonly NetworkPlan Plan = new("blue", 4097, "10.20.0.0/24", "10.20.0.1", true, 1400, "10.214.0.10");

    [Fact]
    public void Replace_WithDhcpAndRules_IsolatesKeepsDhcpLocalAndAllowsOnlyTheRules()
    {
        var plan = ValidPlan.From(Plan with
        {
            Rules =
            [
                new("tcp", 5000, 5001, "10.20.0.0/24"),
                new("udp", 53, null, "10.20.0.0/24"),
                new("tcp", null, null, "10.30.0.0/16"),
                new("icmp", null, null, "0.0.0.0/0"),
                new("any", null, null, "10.20.0.5/32"),
            ],
        });

        Assert.Equal(
            """
            table inet fabnet-001001 {
            }
            delete table inet fabnet-001001
            table bridge fabnet-001001 {
            }
            delete table bridge fabnet-001001
            table inet fabnet-001001 {
            	chain prerouting {
            		type filter hook prerouting priority raw; policy accept;
            		iifname "fb001001" ct zone set 4097
            	}
            	chain input {
            		type filter hook input priority filter; policy accept;
            		iifname "fb001001" udp dport 67 accept
            		iifname "fb001001" drop
            	}
            	chain forward {
            		type filter hook forward priority filter; policy accept;
            		iifname "fb001001" oifname != "fb001001" drop
            		oifname "fb001001" iifname != "fb001001" drop
            		iifname "fb001001" jump allow
            	}
            	chain allow {
            		ct state established,related accept
            		ip saddr 10.20.0.0/24 tcp dport 5000-5001 accept
            		ip saddr 10.20.0.0/24 udp dport 53 accept
            		ip saddr 10.30.0.0/16 ip protocol tcp accept
            		meta nfproto ipv4 ip protocol icmp accept
            		ip saddr 10.20.0.5/32 accept
            		meta nfproto { ipv4, ipv6 } drop
            	}
            }
            table bridge fabnet-001001 {
            	chain prerouting {
            		type filter hook prerouting priority filter; policy accept;
            		iifname "fx001001" udp dport { 67, 68 } drop
            		iifname "fx001001" arp saddr ip 10.20.0.1 drop
            		iifname "fx001001" arp daddr ip 10.20.0.1 drop
            	}
            	chain postrouting {
            		type filter hook postrouting priority filter; policy accept;
            		oifname "fx001001" udp dport { 67, 68 } drop
            		oifname "fx001001" arp saddr ip 10.20.0.1 drop
            		oifname "fx001001" arp daddr ip 10.20.0.1 drop
            	}
            }

            """.ReplaceLineEndings("\n"),
            NftRuleset.Replace(plan));
    }

    [Fact]
    public void Replace_WithoutDhcpOrRules_DropsEverythingToTheHostAndLetsTheNetworkFlow()
    {
        var text = NftRuleset.Replace(ValidPlan.From(Plan with { Dhcp = false }));

        Assert.Contains("\t\tiifname \"fb001001\" drop\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("dport 67", text, StringComparison.Ordinal);
        Assert.DoesNotContain("chain allow", text, StringComparison.Ordinal);
        Assert.DoesNotContain("ct ", text, StringComparison.Ordinal);
        Assert.DoesNotContain("table bridge fabnet-001001 {\n\tchain", text, StringComparison.Ordinal);
        Assert.EndsWith("delete table bridge fabnet-001001\n" + "table inet fabnet-001001 {\n", text[..(text.IndexOf("\tchain", StringComparison.Ordinal))], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(65535, 65535)]
    [InlineData(65536, 1)]
    [InlineData(0xFFFFFF, 0xFFFFFF % 65535)]
    public void ConntrackZone_IsNeverZero(int vni, int zone)
    {
        Assert.Equal(zone, NftRuleset.ConntrackZone(vni));
    }

    [Fact]
    public void Delete_RemovesBothTablesEvenWhenMissing()
    {
        Assert.Equal(
            "table inet fabnet-abcdef {\n}\ndelete table inet fabnet-abcdef\ntable bridge fabnet-abcdef {\n}\ndelete table bridge fabnet-abcdef\n",
            NftRuleset.Delete(0xABCDEF));
    }
}
