# Container images without a Docker daemon: buildah (vfs store) and a base made from Debian's packages
# with mmdebstrap. The Makefile includes this file (include deploy/images/images.mk); deploy/README.md
# says how it works. Names, tags and the store: deploy/images/common.sh (HOERA_IMAGE_* variables).

IMAGES_DIR := deploy/images
IMAGE_NAMES := intake compensation survey alerts callback demo
IMAGES_UV ?= $(or $(UV),$(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv))

.PHONY: images images-deps images-base base-image-ready images-test images-list $(addprefix image-,$(IMAGE_NAMES))

IMAGES_LIST = . $(IMAGES_DIR)/common.sh && buildah images --filter reference="$$HOERA_IMAGE_PREFIX/*"

images: $(addprefix image-,$(IMAGE_NAMES)) ## container images of the five services and the demo (buildah, no Docker)
	@$(IMAGES_LIST)

images-deps: ## install buildah and mmdebstrap from Debian's packages if missing
	@command -v buildah >/dev/null && command -v mmdebstrap >/dev/null || { \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends buildah mmdebstrap; }

# The base is built once and reused; `make images-base` builds it anew (Debian's security updates).
base-image-ready: images-deps
	@. $(IMAGES_DIR)/common.sh && buildah inspect --type image "$$HOERA_BASE_IMAGE" >/dev/null 2>&1 \
	  || bash $(IMAGES_DIR)/base.sh

images-base: images-deps ## (re)build the base image: Debian bookworm's python3.11, no shell, no package manager
	@bash $(IMAGES_DIR)/base.sh

$(addprefix image-,$(IMAGE_NAMES)): image-%: base-image-ready
	@start=$$(date +%s); image=$$(UV=$(IMAGES_UV) bash $(IMAGES_DIR)/build.sh $*) && \
	  echo "built $$image in $$(( $$(date +%s) - start )) s"

images-list: ## the images built, with their sizes
	@$(IMAGES_LIST)

# Builds the intake image (about 40 s with the download cache warm), then runs it against the local
# stack (started here if it is not running) and checks /readyz answers 200.
images-test: export HOERA_ENVIRONMENT ?= test
images-test: image-intake ## run the intake image against the local stack: /readyz 200, non-root, read-only root
	$(IMAGES_UV) run --frozen hoera-local run -- $(IMAGES_UV) run --frozen python $(IMAGES_DIR)/smoke.py intake
