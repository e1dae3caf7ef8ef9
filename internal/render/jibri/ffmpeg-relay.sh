#!/bin/sh
# Rendered by jitsi-operator: stands in front of Jibri's ffmpeg (mounted at /usr/local/bin/ffmpeg,
# ahead of /usr/bin in PATH). While the pool runs an RTMP relay, a live stream that somebody started
# from the meeting with a platform's URL (Jibri makes it rtmp://a.rtmp.youtube.com/live2/<key>) is
# sent to the relay instead, under a name that carries that URL and is signed with the pool's key;
# the relay asks the operator where the name goes and pushes the stream on to that URL. Everything
# else (recordings, streams the operator started on the relay) runs ffmpeg unchanged.
#
# Runs under /bin/sh (dash in the image) and needs its builtin printf, base64, tr, cut and
# sha256sum (no openssl). Environment (set on the recorder by the operator):
#   JITSI_OPERATOR_RELAY_PUBLISH    rtmp://<pool>-relay.<namespace>.svc:1935/live (only with a relay)
#   JITSI_OPERATOR_RELAY_UI_PREFIX  ui.<namespace>.<pool>
#   JITSI_OPERATOR_RELAY_UI_KEY     the pool's key for these names (a secret, hex digits)
#   JITSI_OPERATOR_FFMPEG           the real ffmpeg, /usr/bin/ffmpeg by default
# The key leaves the environment before anything runs (ffmpeg never sees it) and only the shell
# uses it (hmac_sha256): it is in no program's arguments.
# Tracing would print the key.
set +x
real=${JITSI_OPERATOR_FFMPEG:-/usr/bin/ffmpeg}
relay=${JITSI_OPERATOR_RELAY_PUBLISH:-}
prefix=${JITSI_OPERATOR_RELAY_UI_PREFIX:-}
key=${JITSI_OPERATOR_RELAY_UI_KEY:-}
unset JITSI_OPERATOR_RELAY_UI_KEY
if [ -z "$relay" ] || [ -z "$prefix" ] || [ -z "$key" ] || [ $# -eq 0 ]; then
	exec "$real" "$@"
fi

# ffmpeg's output is its last argument.
for last do :; done
case $last in
"$relay"/*) exec "$real" "$@" ;;
rtmp://* | rtmps://*) ;;
*) exec "$real" "$@" ;;
esac

# @hmac_sha256@ (the renderer puts hmac-sha256.sh here)

encoded=$(printf '%s' "$last" | base64 | tr -d '\n=' | tr '+/' '-_')
name="$prefix.$encoded"
if ! sig=$(hmac_sha256 "$key" "$name"); then
	echo "ffmpeg-relay: cannot sign the relay name: JITSI_OPERATOR_RELAY_UI_KEY must be the pool's key (hex digits)" >&2
	exit 1
fi
sig=$(printf '%s' "$sig" | cut -c1-32)

n=$#
i=0
for arg do
	i=$((i + 1))
	if [ "$i" -eq "$n" ]; then
		arg="$relay/$name.$sig"
	fi
	set -- "$@" "$arg"
done
shift "$n"
exec "$real" "$@"
