#!/usr/bin/env bash
# Fails when the repository tracks a build output: a binary file (git's own test: a NUL byte in
# its start) or a file over 1 MiB, outside testdata/ folders (fuzz corpora and fixtures may be
# either).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
limit=$((1024 * 1024))
bad=0
while IFS= read -r line; do
	path=${line#*$'\t'}
	[[ $path == testdata/* || $path == */testdata/* ]] && continue
	[[ -f $path ]] || continue
	if [[ ${line%% *} == i/-text ]]; then
		echo "tracked binary file: $path (build outputs belong in bin/ or the .gitignore)" >&2
		bad=1
	elif (($(stat -c %s "$path") > limit)); then
		echo "tracked file over 1 MiB: $path ($(stat -c %s "$path") bytes)" >&2
		bad=1
	fi
done < <(git ls-files --eol)
exit $bad
