#!/usr/bin/env bash
# Builds rclone from the Go module proxy (no prebuilt download), cached by version outside the
# clone like helm, and links it to bin/rclone. The finalize tests (test/finalize) use it both as
# the S3 server (rclone serve s3) and as the client the finalize script runs, as in the jibri image.
#
# Usage: hack/rclone.sh
set -euo pipefail

RCLONE_VERSION=${RCLONE_VERSION:-v1.76.0}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${JITSI_OPERATOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jitsi-operator}
dir="$cache/rclone-$RCLONE_VERSION"

mkdir -p "$cache" "$root/bin"
exec 9>"$cache/.rclone-lock"
flock 9

if [[ ! -x "$dir/rclone" ]]; then
	echo "[rclone] building rclone $RCLONE_VERSION from the module proxy (about 3 minutes once)" >&2
	# Outside any module, so that go.mod's requirements do not constrain rclone's.
	(cd "$cache" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off GOBIN="$dir" go install "github.com/rclone/rclone@$RCLONE_VERSION")
fi
ln -sfn "$dir/rclone" "$root/bin/rclone"
echo "[rclone] ready: $root/bin/rclone" >&2
