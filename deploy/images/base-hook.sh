#!/usr/bin/env bash
# mmdebstrap --extract-hook for the base image: turns the extracted packages into a runtime root
# filesystem for the interpreter alone. Runs on the host, as root, with $1 = the root filesystem.
#
# The extract variant unpacks packages without running their maintainer scripts, so what those scripts
# would have done that the image needs is done here: the users, the dpkg status (for image scanners),
# the standard library's byte code (the root filesystem is read-only at run time).
set -euo pipefail

root=${1:?usage: base-hook.sh ROOTFS}
archives="$root/var/cache/apt/archives"

# Pulled in only as dependencies of package management (tzdata -> debconf, readline-common -> dpkg,
# base-files -> awk): an image that is never upgraded in place has no use for them.
drop=" debconf dpkg tar mawk libacl1 libmd0 libselinux1 libpcre2-8-0 libzstd1 "

status="$root/var/lib/dpkg/status"
mkdir -p "$(dirname "$status")"
: >"$status"
for deb in "$archives"/*.deb; do
    package=$(dpkg-deb --field "$deb" Package)
    if [[ "$drop" == *" $package "* ]]; then
        # Files only: directories are shared with the packages that stay.
        dpkg-deb --fsys-tarfile "$deb" | tar -t | while read -r path; do
            target="$root/${path#./}"
            if [[ -f "$target" || -L "$target" ]]; then rm -f "$target"; fi
        done
        continue
    fi
    # The status stanza dpkg would have written: scanners read it to know what the image holds.
    { dpkg-deb --field "$deb"; echo "Status: install ok installed"; echo; } >>"$status"
done

# mmdebstrap's stand-in for the daemon starter, left behind with dpkg's own.
rm -f "$root"/sbin/start-stop-daemon*

# Documentation, translations and leap-second time zones: nothing a service reads. Copyright files stay.
# -xdev and no /dev: mmdebstrap has the host's devices mounted in the chroot while this hook runs.
find "$root/usr/share/doc" -xdev -type f ! -name copyright -delete
rm -rf "$root"/usr/share/{man,info,locale,lintian,bash-completion,perl5,zoneinfo/right}
# glibc's iconv modules for legacy character sets (8 MB): Python's codecs and the wheels' bundled
# libraries do not load them; UTF-8 and ASCII are built into glibc itself.
rm -rf "$root/usr/lib/x86_64-linux-gnu/gconv"
find "$root/usr/share" -xdev -depth -type d -empty -delete

# The service user: a fixed, unprivileged id the Kubernetes securityContext can name (runAsUser).
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
hoera:x:10001:10001:hoera:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
hoera:x:10001:
EOF
mkdir -p "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"

# Byte code for the standard library, checked against nothing at import: the files never change
# in a built image, and Python cannot write a cache to a read-only root filesystem.
chroot "$root" /usr/bin/python3.11 -m compileall -q --invalidation-mode unchecked-hash \
    -x 'lib2to3/tests|test/' /usr/lib/python3.11 >/dev/null
