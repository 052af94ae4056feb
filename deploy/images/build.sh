#!/usr/bin/env bash
# Builds one Hoera image from deploy/images/Containerfile. Usage: build.sh NAME
#   NAME: intake | compensation | survey | alerts | callback | demo
# Names, tags and the image store: common.sh. Prints the image's name.
#
# Stages the build context outside the repository: the package's pinned requirements (uv export from
# uv.lock, with hashes, without the dev group), the workspace members that export names, laid out as in
# the repository, and the uv binary that installs them inside the build.
set -euo pipefail

name=${1:?usage: build.sh NAME}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
cache=$HOERA_IMAGES_CACHE
uv=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}

case "$name" in
    intake) port=8101 ;;
    compensation) port=8102 ;;
    survey) port=8103 ;;
    alerts) port=8104 ;;
    callback) port=8105 ;;
    demo) port= ;;
    *) echo "build.sh: unknown image '$name' (intake compensation survey alerts callback demo)" >&2; exit 2 ;;
esac
if [[ "$name" == demo ]]; then package=hoera-local; target=demo; else package=hoera-$name; target=service; fi

ctx="$cache/context/$name"
rm -rf "$ctx"
mkdir -p "$ctx/app"
(cd "$repo" && "$uv" export --quiet --frozen --no-dev --package "$package" -o "$ctx/export.txt")
# The workspace members the package needs are the export's editable lines (-e ./libs/kit ...); the
# rest, every one pinned with its hashes, comes from the package index.
grep '^-e ' "$ctx/export.txt" >"$ctx/members.txt"
grep -v '^-e ' "$ctx/export.txt" >"$ctx/requirements.txt"
members=$(sed -n 's|^-e \./||p' "$ctx/members.txt")
for member in $members; do
    mkdir -p "$ctx/app/$member"
    cp "$repo/$member/pyproject.toml" "$ctx/app/$member/"
    # src/ always; a service's migrations/ and rules/ are read beside it at run time.
    for part in src migrations rules; do
        if [[ -d "$repo/$member/$part" ]]; then
            cp -r "$repo/$member/$part" "$ctx/app/$member/"
        fi
    done
done
find "$ctx/app" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
# A service image carries no development code (the demo is the development kit's one client).
if [[ "$target" == service ]] && { [[ "$members" == *libs/devkit* ]] || grep -q '^pytest==' "$ctx/requirements.txt"; }; then
    echo "build.sh: $package would bring development packages into its image" >&2
    exit 1
fi
cp "$uv" "$ctx/uv"
cp "$here/livez.py" "$here/build-constraints.txt" "$ctx/"

image="$HOERA_IMAGE_PREFIX/$name:$HOERA_IMAGE_TAG"
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(git -C "$repo" status --porcelain 2>/dev/null)" ]]; then revision="$revision-dirty"; fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -1)

# The index's trust store inside the build: the host's (see the Containerfile).
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[[ -r "$ca" ]] || { echo "build.sh: no CA bundle at $ca (set SSL_CERT_FILE)" >&2; exit 1; }

# The image this build replaces, removed after it: on the vfs driver each one holds a full copy.
previous=$(buildah images --quiet --no-trunc "$image" 2>/dev/null || true)

# No --layers: on the vfs driver every cached step still copies the whole root filesystem, so a
# build from scratch (with uv's download cache mounted) is the faster one (about 40 s against 100 s).
buildah build --quiet --format docker --layers=false --secret id=ca-certificates,src="$ca" \
    --file "$here/Containerfile" --target "$target" \
    --build-arg BASE="$HOERA_BASE_IMAGE" --build-arg SERVICE="$name" --build-arg PORT="$port" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --tag "$image" --tag "$HOERA_IMAGE_PREFIX/$name:$version" "$ctx" >/dev/null
current=$(buildah images --quiet --no-trunc "$image")
if [[ -n "$previous" && "$previous" != "$current" ]]; then
    buildah rmi "$previous" >/dev/null 2>&1 || true  # still tagged elsewhere: keep it
fi
echo "$image"
