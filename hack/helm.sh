#!/usr/bin/env bash
# Builds helm from the Go module proxy (no prebuilt download), cached by version outside the clone
# like the control plane, and links it to bin/helm.
#
# Usage: hack/helm.sh
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${JITSI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-operator}
dir="$cache/helm-$HELM_VERSION"

mkdir -p "$cache" "$root/bin"
exec 9>"$cache/.helm-lock"
flock 9

if [[ ! -x "$dir/helm" ]]; then
	echo "[helm] building helm $HELM_VERSION from the module proxy (2 to 4 minutes once)" >&2
	# Outside any module, so that go.mod's requirements do not constrain helm's.
	(cd "$cache" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off GOBIN="$dir" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
fi
ln -sfn "$dir/helm" "$root/bin/helm"
echo "[helm] ready: $root/bin/helm" >&2
