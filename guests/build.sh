#!/usr/bin/env bash
# guests/build.sh OUT_DIR
#
# Builds Fabric's test guest images from the sources in guests/ and Debian
# packages into OUT_DIR (./fabric images uses $FABRIC_HOME/images):
#
#   OUT_DIR/tiny/image.json    OUT_DIR/tiny/tiny.img          (boot sector disk)
#   OUT_DIR/memwalk/image.json OUT_DIR/memwalk/memwalk.img    (boot disk)
#   OUT_DIR/linux/image.json   OUT_DIR/linux/vmlinuz          (Debian cloud kernel)
#                              OUT_DIR/linux/initrd.gz        (busybox initramfs)
#
# Idempotent: each image directory holds a stamp (.inputs) with a hash of
# everything it was built from; an image whose inputs have not changed is
# left alone, and nothing is downloaded. The kernel package and its
# extraction are kept in a cache (default: OUT_DIR/../cache, or
# $FABRIC_GUEST_CACHE) for the next build.
#
# Needs: nasm, cpio, gzip, busybox-static (/bin/busybox), apt (the kernel is
# fetched with `apt-get download`, never installed). See docs/guests.md.
set -euo pipefail

GUESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$GUESTS/build.sh"

KERNEL_META_PACKAGE=linux-image-cloud-amd64
LINUX_CMDLINE="console=ttyS0 quiet panic=-1"

# A boot disk image is one whole cylinder of 16 heads of 63 sectors (504 KiB):
# QEMU's geometry guess for a small disk, and SeaBIOS reads by CHS only
# within whole cylinders.
DISK_CYLINDER=$((16 * 63 * 512))

# Kernel modules the initramfs carries (paths below lib/modules/<version>/kernel).
# The virtio ones in load order: the PCI transport, then block devices, then
# network devices (virtio_net needs net_failover, which needs failover: the
# modules' depends= fields; the package has no modules.dep).
LINUX_MODULES=(drivers/acpi/button.ko drivers/input/evdev.ko
    drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
    drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko
    drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko
    net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Temporary directories to remove however the script ends.
TEMP_DIRS=()
cleanup() {
    local dir
    for dir in "${TEMP_DIRS[@]+"${TEMP_DIRS[@]}"}"; do
        rm -rf "$dir"
    done
}
trap cleanup EXIT

# new_temp_dir NAME: a fresh directory inside OUT (same file system, so the
# finished image can be moved into place with a rename).
new_temp_dir() {
    local dir
    dir=$(mktemp -d "$OUT/.$1.XXXXXX")
    chmod 755 "$dir"
    TEMP_DIRS+=("$dir")
    printf '%s\n' "$dir"
}

sha256_of_file() {
    sha256sum "$1" | cut -d' ' -f1
}

# hash_lines LINE...: one sha256 over the given lines.
hash_lines() {
    printf '%s\n' "$@" | sha256sum | cut -d' ' -f1
}

# is_current DIR HASH FILE...: DIR was built from inputs with this hash and
# still has every listed file.
is_current() {
    local dir=$1 hash=$2 file
    shift 2
    [[ -f "$dir/.inputs" && "$(cat "$dir/.inputs")" == "$hash" ]] || return 1
    for file in "$@"; do
        [[ -f "$dir/$file" ]] || return 1
    done
}

# publish STAGE DIR HASH: write the stamp and move the finished STAGE into
# place as DIR, replacing the previous build.
publish() {
    local stage=$1 dir=$2 hash=$3
    printf '%s\n' "$hash" >"$stage/.inputs"
    rm -rf "$dir.old"
    if [[ -e "$dir" ]]; then
        mv "$dir" "$dir.old"
    fi
    mv "$stage" "$dir"
    rm -rf "$dir.old"
}

# ---------------------------------------------------------------------------
# tiny: a 512-byte boot sector (guests/tiny/tiny.asm) on a one-cylinder hard
# disk (16 heads of 63 sectors), booted from a read-only virtio-blk device.

build_tiny() {
    local dir="$OUT/tiny" src="$GUESTS/tiny/tiny.asm" hash stage size
    hash=$(hash_lines "tiny" \
        "$(sha256_of_file "$src")" \
        "$(nasm -v)" \
        "$(sha256_of_file "$SELF")")
    if is_current "$dir" "$hash" tiny.img image.json; then
        return 0
    fi

    log "building guest image tiny"
    stage=$(new_temp_dir tiny)
    nasm -f bin -o "$stage/tiny.img" "$src"
    size=$(stat -c %s "$stage/tiny.img")
    [[ $size -eq $DISK_CYLINDER ]] || die "tiny.img is $size bytes, expected $DISK_CYLINDER (one cylinder)"
    chmod 644 "$stage/tiny.img"
    cat >"$stage/image.json" <<'EOF'
{"name":"tiny","boot":"disk","disk":"tiny.img","minMemoryMiB":2,"description":"512-byte boot sector: serial ready line and ticks every 0.5 s, boots in milliseconds"}
EOF
    publish "$stage" "$dir" "$hash"
}

# ---------------------------------------------------------------------------
# memwalk: a boot sector plus protected-mode code (guests/memwalk/memwalk.asm)
# on a one-cylinder hard disk, dirtying one byte per 4 KiB page per pass.

build_memwalk() {
    local dir="$OUT/memwalk" src="$GUESTS/memwalk/memwalk.asm" hash stage size
    hash=$(hash_lines "memwalk" \
        "$(sha256_of_file "$src")" \
        "$(nasm -v)" \
        "$(sha256_of_file "$SELF")")
    if is_current "$dir" "$hash" memwalk.img image.json; then
        return 0
    fi

    log "building guest image memwalk"
    stage=$(new_temp_dir memwalk)
    nasm -f bin -o "$stage/memwalk.img" "$src"
    size=$(stat -c %s "$stage/memwalk.img")
    [[ $size -eq $DISK_CYLINDER ]] || die "memwalk.img is $size bytes, expected $DISK_CYLINDER (one cylinder)"
    chmod 644 "$stage/memwalk.img"
    cat >"$stage/image.json" <<'EOF'
{"name":"memwalk","boot":"disk","disk":"memwalk.img","minMemoryMiB":32,"description":"boot-disk guest that increments one byte per 4 KiB page from 2 MiB to 1 MiB below the top of RAM, pass after pass; serial ready, range and pass lines"}
EOF
    publish "$stage" "$dir" "$hash"
}

# ---------------------------------------------------------------------------
# linux: the Debian cloud kernel plus a busybox initramfs (guests/linux).

# resolve_kernel: sets KERNEL_PACKAGE (linux-image-<abi>-cloud-amd64) and
# KERNEL_VERSION (its Debian version) from the local apt lists: no network.
resolve_kernel() {
    KERNEL_PACKAGE=$(apt-cache depends "$KERNEL_META_PACKAGE" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^<?linux-image-/ { gsub(/[<>]/, "", $2); print $2; exit }')
    KERNEL_VERSION=""
    if [[ -n "$KERNEL_PACKAGE" ]]; then
        KERNEL_VERSION=$(apt-cache show --no-all-versions "$KERNEL_PACKAGE" 2>/dev/null |
            awk '$1 == "Version:" { print $2; exit }')
    fi
    if [[ -n "$KERNEL_PACKAGE" && -n "$KERNEL_VERSION" ]]; then
        return 0
    fi

    # apt knows no kernel (apt-get update never ran here): fall back to the
    # newest kernel already in the cache, if any.
    local cached
    cached=$(find "$CACHE/kernel" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null |
        sort -V | tail -n 1)
    [[ -n "$cached" ]] ||
        die "apt does not know $KERNEL_META_PACKAGE; run 'apt-get update' (./fabric setup does) and try again"
    cached=$(basename "$cached")
    KERNEL_PACKAGE=${cached%%_*}
    KERNEL_VERSION=${cached#*_}
    log "apt does not know $KERNEL_META_PACKAGE; using cached $KERNEL_PACKAGE $KERNEL_VERSION"
}

# fetch_kernel DIR: download KERNEL_PACKAGE=KERNEL_VERSION into DIR and
# extract it to DIR/root, unless that was done before. Removes other
# kernels from the cache afterwards.
fetch_kernel() {
    local dir=$1 debs other
    if [[ -f "$dir/.complete" ]]; then
        return 0
    fi

    log "downloading $KERNEL_PACKAGE $KERNEL_VERSION"
    rm -rf "$dir"
    mkdir -p "$dir/download"
    # apt-get download drops root privileges to the _apt user; let that user
    # write the download directory so apt does not warn about its sandbox.
    if [[ $EUID -eq 0 ]] && id -u _apt >/dev/null 2>&1; then
        chown _apt "$dir/download"
    fi
    (cd "$dir/download" && apt-get download -qq "$KERNEL_PACKAGE=$KERNEL_VERSION") ||
        die "could not download $KERNEL_PACKAGE $KERNEL_VERSION"
    debs=("$dir"/download/*.deb)
    [[ ${#debs[@]} -eq 1 && -f "${debs[0]}" ]] || die "expected one .deb in $dir/download"

    dpkg -x "${debs[0]}" "$dir/root"
    touch "$dir/.complete"

    for other in "$CACHE"/kernel/*; do
        if [[ "$other" != "$dir" ]]; then
            rm -rf "$other"
        fi
    done
}

# make_initramfs ROOT OUTPUT: pack the directory ROOT as a gzipped newc cpio,
# reproducibly: sorted names, owner root, mtime 0, no gzip name/time stamp.
make_initramfs() {
    local root=$1 output=$2
    find "$root" -exec touch -h -d @0 {} +
    (
        cd "$root"
        find . -print0 | LC_ALL=C sort -z |
            cpio --null --create --format=newc --owner=0:0 --reproducible --quiet
    ) | gzip -9 -n >"$output"
}

build_linux() {
    local dir="$OUT/linux" hash stage root kernel_dir kernel_root kver
    local overlay_hashes module busybox_status

    busybox_status=$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)
    [[ "$busybox_status" == "install ok installed" ]] ||
        die "busybox-static is not installed (./fabric setup installs it)"

    resolve_kernel
    kver=${KERNEL_PACKAGE#linux-image-}

    # Every file under guests/linux/rootfs, by path, mode and content.
    overlay_hashes=$(cd "$GUESTS/linux/rootfs" &&
        find . -type f -printf '%p %m\n' | LC_ALL=C sort |
        while read -r path mode; do
            printf '%s %s %s\n' "$path" "$mode" "$(sha256_of_file "$path")"
        done)
    hash=$(hash_lines "linux" \
        "$(sha256_of_file "$GUESTS/linux/init")" \
        "$overlay_hashes" \
        "$KERNEL_PACKAGE=$KERNEL_VERSION" \
        "$(sha256_of_file /bin/busybox)" \
        "$LINUX_CMDLINE" \
        "${LINUX_MODULES[*]}" \
        "$(sha256_of_file "$SELF")")
    if is_current "$dir" "$hash" vmlinuz initrd.gz image.json; then
        return 0
    fi

    log "building guest image linux ($KERNEL_PACKAGE $KERNEL_VERSION)"
    kernel_dir="$CACHE/kernel/${KERNEL_PACKAGE}_${KERNEL_VERSION}"
    fetch_kernel "$kernel_dir"
    kernel_root="$kernel_dir/root"
    [[ -f "$kernel_root/boot/vmlinuz-$kver" ]] || die "no boot/vmlinuz-$kver in $KERNEL_PACKAGE"

    stage=$(new_temp_dir linux)
    install -m 644 "$kernel_root/boot/vmlinuz-$kver" "$stage/vmlinuz"

    # The initramfs tree: busybox (applet links are made by /init at boot),
    # /init, the files from guests/linux/rootfs and the kernel modules.
    root=$(new_temp_dir linux-root)
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,root,tmp,var/run,var/log}
    mkdir -p "$root/lib/modules/$kver"
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"
    install -m 755 /bin/busybox "$root/bin/busybox"
    ln -s busybox "$root/bin/sh"
    install -m 755 "$GUESTS/linux/init" "$root/init"
    (
        cd "$GUESTS/linux/rootfs"
        find . -type d -exec install -d -m 755 "$root/{}" \;
        find . -type f -perm -u+x -exec install -m 755 {} "$root/{}" \;
        find . -type f ! -perm -u+x -exec install -m 644 {} "$root/{}" \;
    )
    for module in "${LINUX_MODULES[@]}"; do
        [[ -f "$kernel_root/lib/modules/$kver/kernel/$module" ]] ||
            die "$KERNEL_PACKAGE has no module $module"
        install -m 644 "$kernel_root/lib/modules/$kver/kernel/$module" "$root/lib/modules/$kver/"
    done
    make_initramfs "$root" "$stage/initrd.gz"

    cat >"$stage/image.json" <<EOF
{"name":"linux","boot":"kernel","kernel":"vmlinuz","initrd":"initrd.gz","cmdline":"$LINUX_CMDLINE","minMemoryMiB":128,"description":"Debian $kver kernel with a busybox initramfs: serial ready line, ticks every 0.5 s, root shell on the console, ACPI power-off, DHCP on every virtio NIC"}
EOF
    publish "$stage" "$dir" "$hash"
}

# ---------------------------------------------------------------------------

main() {
    [[ $# -eq 1 && -n "$1" ]] || die "usage: guests/build.sh OUT_DIR"
    mkdir -p "$1"
    OUT=$(cd "$1" && pwd)
    CACHE=${FABRIC_GUEST_CACHE:-$(dirname "$OUT")/cache}
    mkdir -p "$CACHE"

    # One build at a time per output directory (tests may run in parallel).
    exec 9>"$OUT/.lock"
    flock 9

    build_tiny
    build_memwalk
    build_linux
}

main "$@"
