#!/usr/bin/env bash
# deploy/local/underlay.sh - the local "hosts as network peers" topology.
#
# One Linux network namespace per host, joined by one bridge in the root
# namespace, so that every host silo (and every QEMU it starts) has an address
# of its own, as on a real network, while everything stays on this machine:
#
#   root namespace:   bridge PREFIX-br   SUBNET.1/24
#   host i (0-based): namespace PREFIX-HOST, eth0 SUBNET.(10+i)/24,
#                     its veth peer PREFIX-v<i> enslaved to the bridge
#
# No default route, no NAT, no ip_forward change: traffic stays on the bridge.
# ./fabric and the C# test support (tests/Fabric.TestSupport) both use this
# script; see docs/local-topology.md.
#
# usage:
#   underlay.sh up [--owner TEXT] PREFIX SUBNET [HOST...]
#                                            create what is missing (idempotent);
#                                            prints "HOST NAMESPACE ADDRESS" per host
#   underlay.sh down [--kill] [--owner TEXT] PREFIX
#                                            remove every namespace PREFIX-*, its veth
#                                            and the bridge; refuses while processes run
#                                            in one of them, unless --kill (TERM, then KILL)
#   underlay.sh list PREFIX                  "HOST NAMESPACE ADDRESS" of what exists
#   underlay.sh exec PREFIX HOST -- CMD...   run CMD in the host's network namespace (same
#                                            pid: nsenter replaces this process)
#
# PREFIX: 1-8 characters [a-z0-9], starting with a letter (interface names
# derived from it must fit Linux's 15 characters). SUBNET: the first three
# octets of a /24, e.g. 10.213.0. HOST: [a-z0-9-], at most 40 characters.
# At most 200 hosts per prefix. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
#
# --owner names who made the underlay (./fabric passes its FABRIC_HOME, the
# test support its directory); it is kept in the bridge's alias. `up` and
# `down` with an owner refuse to touch a PREFIX another owner made, so two
# fabrics never share (or tear down) each other's namespaces.
#
# Errors: one line on stderr, `error: <code>: <message>`, and exit status 1
# (2 for a usage error).
set -euo pipefail

# Every change to links and namespaces happens under this lock, so that two
# callers (two test environments, ./fabric and a test) never pick the same
# subnet or race on one prefix.
LOCK_FILE=/run/fabric-underlay.lock
FIRST_HOST_OCTET=10
MAX_HOSTS=200
# The marker set as the bridge's alias (followed by ":OWNER"): only a bridge carrying it is ours to delete.
ALIAS_MARK=fabric-underlay
OWNER=

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'error: invalid-spec: %s\n' "$*" >&2; exit 2; }

bridge_name() { printf '%s-br\n' "$1"; }
veth_name() { printf '%s-v%d\n' "$1" "$2"; }
# The namespace end of the veth before it is moved and renamed eth0.
peer_name() { printf '%s-p%d\n' "$1" "$2"; }
netns_name() { printf '%s-%s\n' "$1" "$2"; }

check_prefix() {
    [[ "$1" =~ ^[a-z][a-z0-9]{0,7}$ ]] ||
        usage "PREFIX '$1': give 1-8 characters [a-z0-9] starting with a letter"
}

check_subnet() {
    local octet
    [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] ||
        usage "SUBNET '$1': give the first three octets of a /24, e.g. 10.213.0"
    for octet in "${BASH_REMATCH[@]:1}"; do
        ((10#$octet <= 255)) || usage "SUBNET '$1': octet $octet is above 255"
    done
}

check_host() {
    [[ "$1" =~ ^[a-z0-9][a-z0-9-]{0,39}$ ]] ||
        usage "HOST '$1': give 1-40 characters [a-z0-9-], not starting with '-'"
}

require_root() {
    [[ $EUID -eq 0 ]] || die "forbidden: network namespaces and bridges need root"
    command -v ip >/dev/null 2>&1 || die "unavailable: 'ip' (iproute2) is not installed"
    command -v nsenter >/dev/null 2>&1 || die "unavailable: 'nsenter' (util-linux) is not installed"
}

with_lock() {
    mkdir -p "$(dirname "$LOCK_FILE")"
    exec 9>>"$LOCK_FILE"
    flock 9
}

link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
netns_exists() { [[ -e "/run/netns/$1" ]]; }

# netns_list PREFIX: the namespaces named PREFIX-*, one a line.
netns_list() {
    local name
    for name in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        if [[ "$name" == "$1-"* ]]; then
            printf '%s\n' "$name"
        fi
    done
}

# ipv4_of [NAMESPACE] DEVICE: the device's IPv4 addresses as a.b.c.d/len, one a line.
ipv4_of() {
    if [[ $# -eq 2 ]]; then
        ip -n "$1" -4 -o addr show dev "$2" 2>/dev/null | awk '{print $4}'
    else
        ip -4 -o addr show dev "$1" 2>/dev/null | awk '{print $4}'
    fi
}

# bridge_alias BRIDGE: the bridge's alias ("" when it has none).
bridge_alias() {
    cat "/sys/class/net/$1/ifalias" 2>/dev/null || true
}

# check_bridge_owner BRIDGE: the bridge was made by underlay.sh, and by $OWNER when one is given.
check_bridge_owner() {
    local bridge=$1 alias
    alias=$(bridge_alias "$bridge")
    [[ "$alias" == "$ALIAS_MARK" || "$alias" == "$ALIAS_MARK:"* ]] ||
        die "conflict: a link named $bridge exists and was not made by underlay.sh (its alias is '$alias')"
    if [[ -n "$OWNER" && "$alias" != "$ALIAS_MARK:$OWNER" ]]; then
        local owner=${alias#"$ALIAS_MARK"}
        die "conflict: the underlay of prefix ${bridge%-br} belongs to '${owner#:}', not to '$OWNER'; choose another prefix"
    fi
}

# ensure_bridge PREFIX SUBNET
ensure_bridge() {
    local prefix=$1 subnet=$2 bridge addresses other
    bridge=$(bridge_name "$prefix")
    if link_exists "$bridge"; then
        check_bridge_owner "$bridge"
        addresses=$(ipv4_of "$bridge")
        if [[ -n "$addresses" && "$addresses" != "$subnet.1/24" ]]; then
            die "conflict: bridge $bridge has address ${addresses//$'\n'/ }, not $subnet.1/24 (run: $0 down $prefix)"
        fi
    else
        # The subnet must be free in the root namespace: another underlay (or anything else) using it would
        # make two routes for one /24.
        other=$(ip -4 -o addr show to "$subnet.0/24" 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
        other=${other% }
        [[ -z "$other" ]] || die "conflict: subnet $subnet.0/24 is already used by $other in the root namespace"
        ip link add name "$bridge" type bridge
        ip link set dev "$bridge" alias "$ALIAS_MARK${OWNER:+:$OWNER}"
    fi
    if [[ -z "$(ipv4_of "$bridge")" ]]; then
        ip addr add "$subnet.1/24" dev "$bridge"
    fi
    ip link set dev "$bridge" up
}

# ensure_host PREFIX SUBNET INDEX HOST
ensure_host() {
    local prefix=$1 subnet=$2 index=$3 host=$4 netns veth peer address addresses
    netns=$(netns_name "$prefix" "$host")
    veth=$(veth_name "$prefix" "$index")
    peer=$(peer_name "$prefix" "$index")
    address="$subnet.$((FIRST_HOST_OCTET + index))"

    if ! netns_exists "$netns"; then
        ip netns add "$netns"
    fi
    ip -n "$netns" link set dev lo up

    if ip -n "$netns" link show dev eth0 >/dev/null 2>&1; then
        addresses=$(ipv4_of "$netns" eth0)
        if [[ -n "$addresses" && "$addresses" != "$address/24" ]]; then
            die "conflict: $netns has eth0 ${addresses//$'\n'/ }, not $address/24 (hosts must be given in the same order every time)"
        fi
        link_exists "$veth" ||
            die "conflict: $netns has an eth0 but its bridge end $veth is missing (run: $0 down $prefix)"
    else
        # A half-made pair from an interrupted run: start that host's link over.
        if link_exists "$veth"; then
            ip link del dev "$veth"
        fi
        if link_exists "$peer"; then
            ip link del dev "$peer"
        fi
        ip link add name "$veth" type veth peer name "$peer"
        ip link set dev "$peer" netns "$netns"
        ip -n "$netns" link set dev "$peer" name eth0
    fi
    if [[ -z "$(ipv4_of "$netns" eth0)" ]]; then
        ip -n "$netns" addr add "$address/24" dev eth0
    fi
    ip -n "$netns" link set dev eth0 up
    ip link set dev "$veth" master "$(bridge_name "$prefix")"
    ip link set dev "$veth" up
    printf '%s %s %s\n' "$host" "$netns" "$address"
}

# parse_owner ARGS...: sets OWNER from a leading "--owner TEXT"; SHIFTED says how many arguments it took.
SHIFTED=0
parse_owner() {
    SHIFTED=0
    if [[ "${1:-}" == --owner ]]; then
        [[ $# -ge 2 && -n "$2" && "$2" != *$'\n'* && ${#2} -le 200 ]] || usage "--owner: give a text of 1-200 characters"
        OWNER=$2
        SHIFTED=2
    fi
}

cmd_up() {
    parse_owner "$@"
    shift "$SHIFTED"
    [[ $# -ge 2 ]] || usage "usage: up [--owner TEXT] PREFIX SUBNET [HOST...]"
    local prefix=$1 subnet=$2 host index=0
    shift 2
    check_prefix "$prefix"
    check_subnet "$subnet"
    (($# <= MAX_HOSTS)) || usage "at most $MAX_HOSTS hosts per prefix"
    for host in "$@"; do
        check_host "$host"
    done
    [[ "$(printf '%s\n' "$@" | sort | uniq -d)" == "" ]] || usage "a HOST is given twice"
    require_root
    with_lock
    ensure_bridge "$prefix" "$subnet"
    for host in "$@"; do
        ensure_host "$prefix" "$subnet" "$index" "$host"
        index=$((index + 1))
    done
}

# netns_pids NAMESPACE: pids of the processes in the namespace, one a line.
netns_pids() {
    ip netns pids "$1" 2>/dev/null || true
}

# kill_in NAMESPACE: SIGTERM to every process in it, up to 5 s, then SIGKILL.
kill_in() {
    local netns=$1 pids _
    pids=$(netns_pids "$netns")
    [[ -n "$pids" ]] || return 0
    printf '==> %s: stopping %s\n' "$netns" "$(tr '\n' ' ' <<<"$pids")" >&2
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 50); do
        [[ -z "$(netns_pids "$netns")" ]] && return 0
        sleep 0.1
    done
    kill -KILL $(netns_pids "$netns") 2>/dev/null || true
    for _ in $(seq 1 50); do
        [[ -z "$(netns_pids "$netns")" ]] && return 0
        sleep 0.1
    done
    die "unavailable: processes in $netns survived SIGKILL: $(netns_pids "$netns" | tr '\n' ' ')"
}

cmd_down() {
    local kill=false prefix netns pids busy=() link bridge
    if [[ "${1:-}" == --kill ]]; then
        kill=true
        shift
    fi
    parse_owner "$@"
    shift "$SHIFTED"
    [[ $# -eq 1 ]] || usage "usage: down [--kill] [--owner TEXT] PREFIX"
    prefix=$1
    check_prefix "$prefix"
    require_root
    with_lock
    bridge=$(bridge_name "$prefix")
    if link_exists "$bridge"; then
        check_bridge_owner "$bridge"
    fi

    for netns in $(netns_list "$prefix"); do
        pids=$(netns_pids "$netns")
        if [[ -n "$pids" ]]; then
            if $kill; then
                kill_in "$netns"
            else
                busy+=("$netns (pids $(tr '\n' ' ' <<<"$pids" | sed 's/ $//'))")
            fi
        fi
    done
    if [[ ${#busy[@]} -gt 0 ]]; then
        die "conflict: processes still run in ${busy[*]}; stop them or use: down --kill $prefix"
    fi

    # The bridge ends first: deleting a veth deletes its peer (eth0) at once, while a deleted namespace's links
    # go away asynchronously.
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        if [[ "$link" =~ ^$prefix-[vp][0-9]+$ ]]; then
            ip link del dev "$link" 2>/dev/null || true
        fi
    done
    for netns in $(netns_list "$prefix"); do
        ip netns del "$netns"
    done
    if link_exists "$bridge"; then
        ip link del dev "$bridge"
    fi
}

cmd_list() {
    [[ $# -eq 1 ]] || usage "usage: list PREFIX"
    local prefix=$1 netns address
    check_prefix "$prefix"
    require_root
    for netns in $(netns_list "$prefix"); do
        address=$(ipv4_of "$netns" eth0 | head -n 1)
        printf '%s %s %s\n' "${netns#"$prefix"-}" "$netns" "${address%/*}"
    done | sort -t. -k4,4n
}

cmd_exec() {
    [[ $# -ge 4 && "$3" == -- ]] || usage "usage: exec PREFIX HOST -- CMD..."
    local prefix=$1 host=$2 netns
    check_prefix "$prefix"
    check_host "$host"
    shift 3
    require_root
    netns=$(netns_name "$prefix" "$host")
    netns_exists "$netns" || die "not-found: namespace $netns does not exist (run: $0 up $prefix SUBNET ... $host)"
    # nsenter rather than `ip netns exec`: the latter also enters a new mount namespace with a fresh /sys, which
    # hides /sys/fs/cgroup from the command (and from the QEMUs a silo starts). nsenter switches only the network
    # namespace and execs the command itself (no fork), so the caller's pid is the command's pid.
    exec nsenter --net="/run/netns/$netns" -- "$@"
}

main() {
    local command=${1:-}
    [[ $# -gt 0 ]] && shift
    case "$command" in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        list) cmd_list "$@" ;;
        exec) cmd_exec "$@" ;;
        *) usage "usage: $0 up|down|list|exec ... (see the comment at the top of $0)" ;;
    esac
}

main "$@"
