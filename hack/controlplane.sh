#!/usr/bin/env bash
# Builds the binaries of a real Kubernetes control plane from the Go module proxy and links them
# into bin/k8s: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s.io/kubernetes),
# etcd and kwok (with its stage files). envtest and the local cluster run on these.
#
# Builds are cached by version outside the clone, so a fresh clone reuses them and nothing is
# built twice: ${JITSI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-operator}.
#
# Usage: hack/controlplane.sh            build what is missing, then link bin/k8s
#        hack/controlplane.sh --print    print the asset directory (no build)
set -euo pipefail

# Versions that fit the client libraries in go.mod (k8s.io/* v0.37.x <-> Kubernetes v1.37.x).
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.6}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${JITSI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-operator}
k8s_dir="$cache/kubernetes-$K8S_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
kwok_dir="$cache/kwok-$KWOK_VERSION"
assets="$root/bin/k8s"

if [[ "${1:-}" == "--print" ]]; then
	echo "$assets"
	exit 0
fi

log() { printf '[controlplane] %s\n' "$*" >&2; }

mkdir -p "$cache"
# One build at a time: the demo and the tests may both ask for the binaries.
exec 9>"$cache/.lock"
flock 9

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off

build_kubernetes() {
	[[ -x "$k8s_dir/kube-apiserver" && -x "$k8s_dir/kube-controller-manager" && -x "$k8s_dir/kube-scheduler" && -x "$k8s_dir/kubectl" ]] && return 0
	log "building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl); 10 to 20 minutes on 2 cores"
	local work="$cache/build/kubernetes-$K8S_VERSION"
	rm -rf "$work" && mkdir -p "$work"
	local src
	src=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n "$src" ]] || { log "cannot find k8s.io/kubernetes@$K8S_VERSION in the module cache"; return 1; }
	# k8s.io/kubernetes replaces its staging modules with local folders; point each at its
	# published version instead (v1.37.2 -> v0.37.2).
	local staging_version="v0.${K8S_VERSION#v1.}"
	{
		echo "module jitsi-operator.local/controlplane"
		echo
		echo "go 1.25"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/' "$src/go.mod" |
			awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
	} >"$work/go.mod"
	cat >"$work/tools.go" <<'GO'
//go:build controlplane

package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
	(cd "$work" && go mod tidy)
	local minor="${K8S_VERSION#v1.}"
	minor="${minor%%.*}"
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
	mkdir -p "$work/out"
	(cd "$work" && go build -tags controlplane -ldflags "$ldflags" -o "$work/out/" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
	rm -rf "$k8s_dir" && mv "$work/out" "$k8s_dir"
	rm -rf "$work"
}

build_etcd() {
	[[ -x "$etcd_dir/etcd" ]] && return 0
	log "building etcd $ETCD_VERSION; 1 to 3 minutes"
	local work="$cache/build/etcd-$ETCD_VERSION"
	rm -rf "$work" && mkdir -p "$work"
	printf 'module jitsi-operator.local/etcd\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/go.mod"
	printf '//go:build etcd\n\npackage etcd\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$work/tools.go"
	(cd "$work" && go mod tidy && mkdir -p out && go build -tags etcd -ldflags "-s -w" -o out/etcd go.etcd.io/etcd/server/v3)
	rm -rf "$etcd_dir" && mv "$work/out" "$etcd_dir"
	rm -rf "$work"
}

build_kwok() {
	[[ -x "$kwok_dir/kwok" && -s "$kwok_dir/stages.yaml" ]] && return 0
	log "building kwok $KWOK_VERSION; 2 to 6 minutes"
	local work="$cache/build/kwok-$KWOK_VERSION"
	rm -rf "$work" && mkdir -p "$work/out"
	GOBIN="$work/out" GOFLAGS= go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	local src
	src=$(GOFLAGS= go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	# Without stages kwok nodes never turn Ready and pods never run.
	local f
	for d in node/fast node/heartbeat-with-lease pod/fast; do
		for f in "$src/kustomize/stage/$d"/*.yaml; do
			[[ "$(basename "$f")" == kustomization.yaml ]] && continue
			echo "---"
			cat "$f"
		done
	done >"$work/out/stages.yaml"
	rm -rf "$kwok_dir" && mv "$work/out" "$kwok_dir"
	rm -rf "$work"
}

start=$(date +%s)
build_etcd
build_kwok
build_kubernetes
rmdir "$cache/build" 2>/dev/null || true

mkdir -p "$assets"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -sfn "$k8s_dir/$b" "$assets/$b"; done
ln -sfn "$etcd_dir/etcd" "$assets/etcd"
ln -sfn "$kwok_dir/kwok" "$assets/kwok"
ln -sfn "$kwok_dir/stages.yaml" "$assets/kwok-stages.yaml"
log "ready in $(($(date +%s) - start)) s: $assets"
