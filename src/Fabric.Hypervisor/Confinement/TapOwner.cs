using System.Runtime.InteropServices;
using System.Text;
using Fabric.Hypervisor.Linux;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Hypervisor.Confinement;

/// <summary>
/// Gives a persistent tap to a VM's uid (<c>TUNSETOWNER</c>): QEMU opens its taps by name, and an unprivileged process
/// may attach only to a tap it owns. The host's network realization creates the taps (as root, before the uid of the
/// instance is known); the driver hands each one over at launch and hot-plug.
/// </summary>
internal static class TapOwner
{
    public static void Give(string tap, int uid, string? networkNamespace)
    {
        if (networkNamespace is null)
        {
            SetOwner(tap, uid);
            return;
        }

        // Taps are found by name in the caller's network namespace: a thread of its own enters the VMs' and then ends,
        // so no other work of this process runs in it.
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(networkNamespace);
                if (Native.setns(ns, Native.CLONE_NEWNET) != 0)
                {
                    throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot enter network namespace {networkNamespace} (errno {Marshal.GetLastPInvokeError()})");
                }

                SetOwner(tap, uid);
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw failure;
        }
    }

    private static unsafe void SetOwner(string tap, int uid)
    {
        var fd = Native.open("/dev/net/tun", Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot open /dev/net/tun (errno {Marshal.GetLastPInvokeError()})");
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);

        // struct ifreq: the name (16 bytes with its terminator), then the flags; the rest of the 40 bytes is unused here.
        var request = stackalloc byte[40];
        new Span<byte>(request, 40).Clear();
        Encoding.ASCII.GetBytes(tap, new Span<byte>(request, 15));
        *(short*)(request + 16) = Native.IFF_TAP | Native.IFF_NO_PI;
        if (Native.ioctlPointer(handle, Native.TUNSETIFF, request) != 0)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot open tap {tap} to give it to its VM (errno {Marshal.GetLastPInvokeError()})");
        }

        if (Native.ioctlPointer(handle, Native.TUNSETOWNER, (void*)uid) != 0)
        {
            throw new HypervisorException(HypervisorErrorKind.Failed, $"cannot give tap {tap} to uid {uid} (errno {Marshal.GetLastPInvokeError()})");
        }
    }
}
