#!/bin/sh
# Rendered by jitsi-operator: starts coturn with the deployment's TURN shared secret.
#
# The ConfigMap's turnserver.conf holds no secret. This script copies it into TURN_RUN_DIR (a
# memory-backed emptyDir), appends static-auth-secret from TURN_SECRET (a secretKeyRef), removes
# TURN_SECRET from the environment and runs turnserver on the copy. So the secret is in no
# ConfigMap, on no command line (printf is a shell builtin) and in no process environment but
# this shell's, and the copy is readable by coturn's user only.
#
# Environment:
#   TURN_SECRET   the shared secret (one line, not empty)
#   TURN_CONFIG   the rendered turnserver.conf
#   TURN_RUN_DIR  a writable directory for the complete config
set -eu

conf=${TURN_CONFIG:?TURN_CONFIG not set}
dir=${TURN_RUN_DIR:?TURN_RUN_DIR not set}
secret=${TURN_SECRET:-}
unset TURN_SECRET

if [ -z "$secret" ]; then
	echo "turn: the shared secret (TURN_SECRET) is empty" >&2
	exit 1
fi
# A line break would add lines of its own to coturn's config.
cr=$(printf '\r')
case $secret in
*"
"* | *"$cr"*)
	echo "turn: the shared secret must be a single line" >&2
	exit 1
	;;
esac

umask 077
out=$dir/turnserver.conf
{
	cat "$conf"
	printf '\n# Appended by start.sh from TURN_SECRET.\nstatic-auth-secret=%s\n' "$secret"
} >"$out.tmp"
mv "$out.tmp" "$out"
unset secret

exec turnserver -c "$out"
