# The Helm chart's targets; the Makefile includes this file (include deploy/helm/helm.mk).
# Tools (helm, promtool, the operators' CRDs, the manifest validator) are built and fetched once into
# ~/.cache/hoera/tools by deploy/helm/tools/tools.sh; versions in deploy/helm/tools/versions.env.

HELM_CHART := deploy/helm/hoera
HELM_VALUES := values-small.yaml values-platform.yaml

.PHONY: helm-plan helm-tools helm-check helm-render

helm-plan: $(UV) ## regenerate the chart's Kafka topics and users from the event registry (kafka.json)
	$(UV) run --frozen hoera-events helm

helm-tools: ## build and fetch the chart's validation tools into ~/.cache/hoera/tools (once)
	@bash deploy/helm/tools/tools.sh >/dev/null

helm-render: helm-tools ## render the chart for each values file into .run/helm/
	@source $${HOERA_TOOLS_CACHE:-$$HOME/.cache/hoera/tools}/helm-tools.env && mkdir -p .run/helm && \
	for v in $(HELM_VALUES); do \
	  $$HELM template hoera $(HELM_CHART) --namespace hoera --values $(HELM_CHART)/$$v > .run/helm/$${v/values-/manifests-} || exit 1; \
	  echo ".run/helm/$${v/values-/manifests-}"; \
	done

helm-check: $(UV) helm-render ## lint, render and validate the chart, check and unit-test its alert rules
	$(UV) run --frozen hoera-events helm --check
	@source $${HOERA_TOOLS_CACHE:-$$HOME/.cache/hoera/tools}/helm-tools.env && \
	for v in $(HELM_VALUES); do $$HELM lint $(HELM_CHART) --strict --values $(HELM_CHART)/$$v || exit 1; done && \
	$$VALIDATOR_PYTHON $$VALIDATOR --kubernetes-version $$KUBERNETES_VERSION \
	  $$(echo $$CRDS | tr ':' '\n' | sed 's/^/--crds /') .run/helm/manifests-*.yaml
	$(UV) run --frozen pytest tests/deploy --ignore=tests/deploy/test_image.py -q $(PYTEST_ARGS)
