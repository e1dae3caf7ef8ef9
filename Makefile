# jitsi-operator. `make help` lists the targets.

# Tools are pinned by version: controller-gen through go.mod's tool directive, the control
# plane (kube-apiserver, etcd, kwok, ...) by hack/controlplane.sh.
CONTROLLER_TOOLS_VERSION := $(shell go list -m -f '{{.Version}}' sigs.k8s.io/controller-tools)
CONTROLLER_GEN := bin/controller-gen-$(CONTROLLER_TOOLS_VERSION)
ASSETS := $(CURDIR)/bin/k8s
GINKGO_FLAGS ?=
# Test tools built from the module proxy by hack/gotool.sh, cached by version.
HELM_VERSION ?= v3.22.0
RCLONE_VERSION ?= v1.76.0
export GOFLAGS := -buildvcs=false

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC under config/ from the markers.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true rbac:roleName=jitsi-operator paths=./api/... paths=./controllers/... paths=./webhook/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	rm -f charts/jitsi-operator/crds/*.yaml
	cp config/crd/bases/*.yaml charts/jitsi-operator/crds/
	cp config/rbac/role.yaml charts/jitsi-operator/files/role.yaml

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: vet ## Fail when gofmt would change a file, go vet complains, or the tree tracks a binary or a file over 1 MiB.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	hack/check-tree.sh

.PHONY: verify
verify: generate manifests ## Regenerate, tidy, and fail if that changed anything.
	go mod tidy
	@git diff --exit-code -- . ':!bin' || { echo "generated files or go.mod are stale: run make generate manifests and go mod tidy"; exit 1; }

##@ Test

.PHONY: controlplane
controlplane: ## Build (once, cached by version) the control plane binaries into bin/k8s.
	hack/controlplane.sh

# A test binary that hangs is killed, and says where, well inside CI's 90 minutes.
TEST_TIMEOUT ?= 15m

.PHONY: test-unit
test-unit: ## Unit tests of the pure packages (no control plane), with the race detector.
	go test -race -timeout $(TEST_TIMEOUT) $$(go list ./... | grep -v -e /api/ -e /controllers -e /internal/localcluster -e /test/)

.PHONY: test
test: controlplane helm rclone test-deps lint ## All tests, envtest suites on the locally built API server included.
	KUBEBUILDER_ASSETS=$(ASSETS) go test ./... -count=1 -timeout $(TEST_TIMEOUT) $(if $(GINKGO_FLAGS),-args $(GINKGO_FLAGS))

.PHONY: test-race-concurrent
test-race-concurrent: controlplane ## The packages with concurrency (controllers, webhook) with the race detector.
	KUBEBUILDER_ASSETS=$(ASSETS) go test -race ./controllers/ ./webhook/ -count=1 -timeout $(TEST_TIMEOUT)

.PHONY: test-e2e
test-e2e: controlplane helm rclone ## The user's story on a local cluster: helm install, the operator with the chart's RBAC, a stack, a pool and a meeting.
	KUBEBUILDER_ASSETS=$(ASSETS) go test -tags e2e ./test/e2e/ -count=1 -v -timeout $(TEST_TIMEOUT)

.PHONY: test-deps
test-deps: ## Install what the tests need beyond Go (Prosody, slixmpp, nginx with RTMP, ffmpeg, coturn, PulseAudio) from Debian's packages.
	hack/install-test-deps.sh

.PHONY: test-race
test-race: controlplane helm rclone test-deps ## All tests with the race detector.
	KUBEBUILDER_ASSETS=$(ASSETS) go test -race ./... -count=1 -timeout $(TEST_TIMEOUT)

# How long make fuzz fuzzes each target.
FUZZTIME ?= 30s

# A target that fails with a bare "context deadline exceeded" and writes no failing input hit the
# race of Go's fuzzing coordinator at the end of -fuzztime (go.dev/issue/75804, fixed in Go 1.27),
# not a finding: make fuzz says so and goes on.
.PHONY: fuzz
fuzz: ## Fuzz every Fuzz target (found with go test -list) for FUZZTIME each, one at a time; a failing input is kept in its package's testdata/fuzz.
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	pkgs=$$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v -e '^./bin/' -e '^./.local-cluster/' | xargs -r -n1 dirname | sort -u); \
	[ -n "$$pkgs" ] || { echo "fuzz: no Fuzz targets found"; exit 1; }; \
	for pkg in $$pkgs; do \
		listed=$$(go test -list '^Fuzz' $$pkg); \
		for target in $$(echo "$$listed" | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$target for $(FUZZTIME)"; \
			before=$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l || true); \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$out && continue; \
			after=$$(ls $$pkg/testdata/fuzz/$$target 2>/dev/null | wc -l || true); \
			if [ "$$after" = "$$before" ] && grep -A1 -- "^--- FAIL: $$target " $$out | grep -qx '    context deadline exceeded'; then \
				echo "fuzz: $$target: Go's deadline race at the end of -fuzztime (go.dev/issue/75804), no failing input"; \
			else \
				exit 1; \
			fi; \
		done; \
	done

##@ Build

IMG ?= ghcr.io/jitsi-operator/jitsi-operator:$(shell sed -n 's/^appVersion: "\(.*\)"/\1/p' charts/jitsi-operator/Chart.yaml)
CONTAINER_TOOL ?= $(shell command -v docker || command -v podman)

.PHONY: docker-build
docker-build: ## Build the operator image (IMG) with docker or podman, where one exists.
	@if [ -z "$(CONTAINER_TOOL)" ]; then echo "no container engine (docker or podman) here: build the image where one exists"; exit 1; fi
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: helm
helm: ## Build (once, cached by version) helm into bin/helm.
	hack/gotool.sh helm helm.sh/helm/v3/cmd/helm $(HELM_VERSION)

.PHONY: rclone
rclone: ## Build (once, cached by version) rclone into bin/rclone: the S3 server and client of the upload test.
	hack/gotool.sh rclone github.com/rclone/rclone $(RCLONE_VERSION)

.PHONY: build
build: ## Build the operator binary into bin/jitsi-operator.
	go build -o bin/jitsi-operator .

.PHONY: run
run: ## Run the operator against the current kubeconfig (no local cluster).
	go run . --local-cluster=never

.PHONY: demo
demo: controlplane ## Run the operator: on KUBECONFIG's cluster if one is configured, else on a local control plane it starts, with the samples applied.
	go run . --local-cluster=auto --apply-samples --local-cluster-assets=$(ASSETS)

$(CONTROLLER_GEN):
	@mkdir -p bin
	go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen
