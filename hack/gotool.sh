#!/usr/bin/env bash
# Builds a Go program from the Go module proxy (no prebuilt download), cached by version outside
# the clone like the control plane, and links it to bin/<name>. The tests use helm (the chart
# tests and the end-to-end run) and rclone (the S3 server and client of the upload test).
#
# Usage: hack/gotool.sh <name> <package> <version>
#   e.g. hack/gotool.sh helm helm.sh/helm/v3/cmd/helm v3.22.0
set -euo pipefail

name=${1:?usage: hack/gotool.sh <name> <package> <version>}
package=${2:?usage: hack/gotool.sh <name> <package> <version>}
version=${3:?usage: hack/gotool.sh <name> <package> <version>}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${JITSI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-operator}
dir="$cache/$name-$version"

mkdir -p "$cache" "$root/bin"
exec 9>"$cache/.$name-lock"
flock 9

if [[ ! -x "$dir/$name" ]]; then
	echo "[$name] building $package@$version from the module proxy (a few minutes, once)" >&2
	# Outside any module, so that go.mod's requirements do not constrain the program's.
	(cd "$cache" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off GOBIN="$dir" go install "$package@$version")
fi
ln -sfn "$dir/$name" "$root/bin/$name"
echo "[$name] ready: $root/bin/$name" >&2
