# shellcheck shell=bash
# Sourced by the image scripts: where images are staged and stored, and their names. One place for
# the defaults; each can be overridden from the environment (images.mk passes make variables through).

HOERA_IMAGES_CACHE=${HOERA_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hoera/images}
HOERA_IMAGE_PREFIX=${HOERA_IMAGE_PREFIX:-localhost/hoera}
HOERA_IMAGE_TAG=${HOERA_IMAGE_TAG:-latest}
HOERA_BASE_IMAGE=${HOERA_BASE_IMAGE:-$HOERA_IMAGE_PREFIX/base:bookworm}
# The image store: the vfs driver (plain copies, works on any file system and inside containers) in
# a store of Hoera's own, so nothing depends on the machine's containers configuration.
HOERA_IMAGE_STORE=${HOERA_IMAGE_STORE:-$HOERA_IMAGES_CACHE/store}
HOERA_BUILDAH_OPTS=${HOERA_BUILDAH_OPTS:---storage-driver vfs --root $HOERA_IMAGE_STORE/root --runroot $HOERA_IMAGE_STORE/run}
# RUN steps in a chroot: no OCI runtime, cgroups or user namespaces needed.
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

buildah() {
    # shellcheck disable=SC2086  # the options are words on purpose
    command buildah $HOERA_BUILDAH_OPTS "$@"
}
