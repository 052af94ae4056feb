#!/usr/bin/env bash
# Brings the chart's validation tools into a cache, once: helm and promtool built from the Go module proxy,
# the operators' CRDs (Strimzi generated from its Maven Central artifacts; CloudNativePG, KEDA and the
# Prometheus Operator from their Go modules), and the manifest validator's venv from PyPI. Versions:
# versions.env. Later runs find everything in the cache and fetch nothing.
#
#   deploy/helm/tools/tools.sh        # prints KEY=value lines (paths), also kept in $CACHE/helm-tools.env
#
# HOERA_TOOLS_CACHE overrides the cache (default ~/.cache/hoera/tools); it is never inside the repository.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${HOERA_TOOLS_CACHE:-$HOME/.cache/hoera/tools}"
mkdir -p "$CACHE/bin" "$CACHE/crds"
log() { echo "tools.sh: $*" >&2; }

export GOMODCACHE="$CACHE/gomod" GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local GOBIN="$CACHE/bin/.build"

go_install() {  # go_install TARGET NAME [go flags...]: build once into bin/NAME
  local target="$1" name="$2"; shift 2
  if [[ ! -x "$CACHE/bin/$name" ]]; then
    command -v go >/dev/null || { log "go is needed to build $name"; exit 1; }
    log "building $name from the Go module proxy (once; minutes)"
    rm -rf "$GOBIN"
    nice go install -trimpath "$@" "$target"
    mv "$GOBIN/$(basename "${target%@*}")" "$CACHE/bin/$name"
  fi
}

go_module_dir() {  # go_module_dir MODULE@VERSION: the module's folder in the module cache
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

copy_crds() {  # copy_crds NAME MODULE@VERSION SUBFOLDER FILE...
  local name="$1" module="$2" sub="$3"; shift 3
  local out="$CACHE/crds/$name"
  [[ -f "$out/.complete" ]] && return
  log "fetching the CRDs of $module"
  local dir; dir="$(go_module_dir "$module")"
  rm -rf "$out" && mkdir -p "$out"
  for file in "$@"; do cp "$dir/$sub/$file" "$out/$file"; done
  touch "$out/.complete"
}

java21() {  # a java of version 21 or newer (Strimzi's generator is compiled for 21)
  local candidate major
  for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$("$candidate" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if [[ "${major%%.*}" -ge 21 ]]; then echo "$candidate"; return; fi
  done
  log "Strimzi's CRD generator needs Java 21 or newer (none found; set JAVA_HOME)"; exit 1
}

strimzi_crds() {
  local out="$CACHE/crds/strimzi-$STRIMZI_VERSION" libs="$CACHE/strimzi-$STRIMZI_VERSION/libs"
  [[ -f "$out/.complete" ]] && return
  log "fetching Strimzi $STRIMZI_VERSION's api and crd-generator from Maven Central"
  mvn -q -B -Dstyle.color=never -f "$HERE/strimzi-crds.pom.xml" -Dstrimzi.version="$STRIMZI_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  rm -rf "$out" && mkdir -p "$out"
  # The arguments of Strimzi's own build (api/pom.xml, generate-crd-co-install-v1), for the kinds we use.
  "$(java21)" -cp "$libs/*" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    io.strimzi.api.kafka.model.kafka.Kafka="$out/040-Crd-kafka.yaml" \
    io.strimzi.api.kafka.model.topic.KafkaTopic="$out/043-Crd-kafkatopic.yaml" \
    io.strimzi.api.kafka.model.user.KafkaUser="$out/044-Crd-kafkauser.yaml" \
    io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$out/045-Crd-kafkanodepool.yaml" >&2
  touch "$out/.complete"
}

validator_venv() {
  local digest venv
  digest="$(sha256sum "$HERE/validate-requirements.txt" | cut -c1-12)"
  venv="$CACHE/validate-$digest"
  if [[ ! -x "$venv/bin/python" ]]; then
    local uv; uv="$(command -v uv || echo "$HOME/.local/bin/uv")"
    log "installing the manifest validator (kubernetes-validate) into $venv"
    rm -rf "$venv"
    "$uv" venv --quiet --python 3.11 "$venv" >&2
    "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes -r "$HERE/validate-requirements.txt" >&2
  fi
  echo "$venv/bin/python"
}

go_install "$HELM_MODULE/cmd/helm@$HELM_VERSION" "helm-$HELM_VERSION" \
  -ldflags "-s -w -X $HELM_MODULE/internal/version.version=$HELM_VERSION"
go_install "$PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION" "promtool-$PROMETHEUS_VERSION" \
  -tags remove_all_sd -ldflags "-s -w"
strimzi_crds
copy_crds "cloudnative-pg-$CNPG_VERSION" "$CNPG_MODULE@$CNPG_VERSION" config/crd/bases \
  postgresql.cnpg.io_clusters.yaml postgresql.cnpg.io_scheduledbackups.yaml
copy_crds "keda-$KEDA_VERSION" "$KEDA_MODULE@$KEDA_VERSION" config/crd/bases \
  keda.sh_scaledobjects.yaml keda.sh_triggerauthentications.yaml
copy_crds "prometheus-operator-$PROMETHEUS_OPERATOR_VERSION" \
  "$PROMETHEUS_OPERATOR_MODULE@$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd \
  monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml \
  monitoring.coreos.com_podmonitors.yaml
PYTHON="$(validator_venv)"

{
  echo "HELM=$CACHE/bin/helm-$HELM_VERSION"
  echo "PROMTOOL=$CACHE/bin/promtool-$PROMETHEUS_VERSION"
  echo "VALIDATOR_PYTHON=$PYTHON"
  echo "VALIDATOR=$HERE/validate.py"
  echo "KUBERNETES_VERSION=$KUBERNETES_VERSION"
  echo "CRDS=$CACHE/crds/strimzi-$STRIMZI_VERSION:$CACHE/crds/cloudnative-pg-$CNPG_VERSION:$CACHE/crds/keda-$KEDA_VERSION:$CACHE/crds/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
} | tee "$CACHE/helm-tools.env"
