#!/usr/bin/env bash
# Builds the base image every Hoera image starts from: Debian bookworm's python3.11 and the shared
# libraries it loads, from Debian's packages (no registry of base images is needed), with no shell,
# no package manager and an unprivileged user. Usage: base.sh [IMAGE_NAME]
#
# mmdebstrap's extract variant unpacks the packages and their dependencies without installing them;
# base-hook.sh then trims what a runtime does not need. buildah imports the result as one layer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
image=${1:-$HOERA_BASE_IMAGE}
cache=$HOERA_IMAGES_CACHE
suite=${DEBIAN_SUITE:-bookworm}
# Empty: mmdebstrap's default mirror with the suite's updates and security archives. A file (for
# instance the host's deb822 sources) or a "deb ..." line chooses another.
mirror=${DEBIAN_MIRROR:-}

packages=(
    python3.11-minimal    # the interpreter
    libpython3.11-stdlib  # asyncio, ssl, sqlite3, ctypes, zoneinfo...
    tzdata                # zoneinfo: tenants' business calendars name their time zone
    libgcc-s1             # unwinding for the Rust and C++ extensions of the wheels
    base-files            # /etc/os-release, for scanners and people
)

# Deleting through a mount that an interrupted mmdebstrap left behind (its chroot holds the host's
# /dev and shared memory) would break other programs on the machine: refuse instead.
refuse_if_mounted() {
    if findmnt --list --noheadings --output TARGET | grep -q "^$1/"; then
        echo "base: something is still mounted below $1; unmount it first" >&2
        exit 1
    fi
}

mkdir -p "$cache"
rootfs="$cache/base-rootfs"
refuse_if_mounted "$rootfs"
rm -rf "$rootfs"
include=$(IFS=,; echo "${packages[*]}")
echo "base: mmdebstrap $suite (${include})"
# shellcheck disable=SC2086  # an empty mirror must vanish, not become an empty argument
mmdebstrap --quiet --variant=extract --include="$include" \
    --extract-hook="$here/base-hook.sh" "$suite" "$rootfs" $mirror
# What mmdebstrap sets up for its own chroot: device nodes (a runtime mounts its own /dev) and the
# host's name resolution, which has no place in an image; apt's and dpkg's leftovers (the status file
# stays, for scanners); then the loader's cache, which ldconfig's trigger would have written.
refuse_if_mounted "$rootfs"
find "$rootfs/dev" -xdev -mindepth 1 -delete
rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
rm -rf "$rootfs"/etc/{apt,dpkg,alternatives,cron.daily,logrotate.d} "$rootfs"/var/{cache,lib}/apt "$rootfs"/var/log/*
find "$rootfs/var/lib/dpkg" -mindepth 1 ! -name status -prune -exec rm -rf {} +
ldconfig -r "$rootfs"

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$rootfs" / >/dev/null
python_version=$(awk '/^Package: python3.11-minimal$/ {p=1} p && /^Version:/ {print $2; exit}' "$rootfs/var/lib/dpkg/status")
buildah config \
    --env PATH=/usr/local/bin:/usr/bin:/bin \
    --env LANG=C.UTF-8 \
    --user 10001:10001 \
    --label org.opencontainers.image.title="hoera base (Debian $suite, python3.11)" \
    --label org.opencontainers.image.base.name="debian:$suite (mmdebstrap, extract variant)" \
    --label io.hoera.python.debian-version="$python_version" \
    "$ctr"
buildah commit --quiet --rm "$ctr" "$image" >/dev/null
trap - EXIT
echo "base: $image (python3.11 $python_version, $(du -sh "$rootfs" | cut -f1) uncompressed)"
