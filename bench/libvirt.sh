#!/usr/bin/env bash
# bench/libvirt.sh start|stop STATE_DIR - libvirt for `./fabric bench cli`'s baseline, on machines without systemd.
#
# start: when a libvirtd already answers `virsh -c qemu:///system`, uses it and starts nothing. Otherwise makes what
#        libvirtd 9.0 needs to run without systemd (the libvirt-qemu user and group, the kvm group, /var/run/libvirt,
#        /var/log/libvirt: created once, kept, as the packages are), then starts virtlogd (QEMU's serial and log files
#        go through it) and libvirtd as daemons, their pid files in STATE_DIR, and waits until libvirtd answers.
#        Exit 0: libvirt answers; it prints "started" or "running" (someone else's). Exit 1: it cannot run here (the
#        reason on stderr); whatever this call started is stopped again.
# stop:  stops the daemons that `start` with the same STATE_DIR started (by their pid files, each checked to be that
#        program), and nothing else. Idempotent.
set -euo pipefail

URI=qemu:///system
action=${1:-}
state=${2:-}
[[ ( "$action" == start || "$action" == stop ) && -n "$state" ]] || { echo "usage: $0 start|stop STATE_DIR" >&2; exit 2; }
# The daemons change to / before they write their pid files.
state=$(realpath -m "$state")

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }

# running COMM: true when a process named COMM runs (a zombie, whose parent never reaped it, does not count).
running() {
    local stat
    for stat in /proc/[0-9]*/stat; do
        [[ "$(cut -d' ' -f2,3 "$stat" 2>/dev/null)" =~ ^\($1\)\ [^Z]$ ]] && return 0
    done
    return 1
}

# stop_pidfile FILE COMM: SIGTERM to the process in FILE if /proc says it is COMM, SIGKILL after 5 s; then FILE goes.
stop_pidfile() {
    local file=$1 comm=$2 pid i
    [[ -f "$file" ]] || return 0
    pid=$(<"$file")
    if [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            [[ -d "/proc/$pid" ]] || break
            sleep 0.1
        done
        [[ -d "/proc/$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

stop() {
    stop_pidfile "$state/libvirtd.pid" libvirtd
    stop_pidfile "$state/virtlogd.pid" virtlogd
}

if [[ "$action" == stop ]]; then
    stop
    exit 0
fi

for program in libvirtd virtlogd virsh; do
    command -v "$program" >/dev/null 2>&1 || {
        echo "libvirt is not installed ($program missing: packages libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)" >&2
        exit 1
    }
done
if [[ $EUID -ne 0 ]]; then
    echo "libvirtd's qemu:///system needs root" >&2
    exit 1
fi
if answers; then
    echo running
    exit 0
fi

mkdir -p "$state"
# Accounts and directories that libvirt-daemon-system (not installed: it wants systemd) would make.
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin -g libvirt-qemu -G kvm libvirt-qemu
mkdir -p /var/run/libvirt /var/log/libvirt

if [[ ! -S /var/run/libvirt/virtlogd-sock ]] || ! running virtlogd; then
    virtlogd -d -p "$state/virtlogd.pid"
fi
libvirtd -d -p "$state/libvirtd.pid"
for _ in $(seq 1 100); do
    if answers; then
        echo started
        exit 0
    fi
    sleep 0.1
done

echo "libvirtd did not answer on $URI within 10 s; its log's last lines:" >&2
tail -n 5 /var/log/libvirt/libvirtd.log >&2 2>/dev/null || true
stop
exit 1
