#!/bin/sh
# Rendered by jitsi-operator: Jibri's finalize script. Jibri runs it with one argument, the
# recording session's directory, once a recording has stopped (and stays busy until it returns).
# It reports the session's files to the operator's receiver, signed with HMAC-SHA256, and retries
# while the receiver is unreachable or answers 5xx.
#
# Needs sh, tr, sed, stat, sha256sum, openssl and curl. Environment:
#   JITSI_OPERATOR_RECORDING_URL  the receiver's /v1/jibri/recording-complete?deployment=<ns>/<name>
#   JITSI_OPERATOR_EVENTS_SECRET  the deployment's events secret
set -eu

dir=${1:?usage: finalize-recording.sh <session directory>}
url=${JITSI_OPERATOR_RECORDING_URL:?not set}
secret=${JITSI_OPERATOR_EVENTS_SECRET:?not set}

json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

session=$(basename "$dir")
meeting_url=""
if [ -f "$dir/metadata.json" ]; then
	meeting_url=$(tr -d '\n' <"$dir/metadata.json" | sed -n 's/.*"meeting_url"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
fi
room=${meeting_url##*/}
room=${room%%\?*}

files=""
for f in "$dir"/*; do
	[ -f "$f" ] || continue
	size=$(stat -c %s "$f")
	sum=$(sha256sum "$f" | cut -d' ' -f1)
	files="$files${files:+,}{\"name\":\"$(json "$(basename "$f")")\",\"path\":\"$(json "$f")\",\"sizeBytes\":$size,\"sha256\":\"$sum\"}"
done

body="{\"timestamp\":$(date +%s)000,\"session\":\"$(json "$session")\",\"room\":\"$(json "$room")\",\"meeting_url\":\"$(json "$meeting_url")\",\"files\":[$files]}"
signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')

attempt=0
delay=1
while :; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-H "X-Jitsi-Signature: $signature" --data-binary "$body" --max-time 20 "$url" || echo 000)
	case $code in
	2??) echo "finalize: reported $session ($room) to the operator"; exit 0 ;;
	4??) echo "finalize: the operator refused the report of $session with $code" >&2; exit 1 ;;
	esac
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 8 ]; then
		echo "finalize: the operator did not take the report of $session (last answer $code)" >&2
		exit 1
	fi
	echo "finalize: answer $code; retrying in ${delay}s" >&2
	sleep "$delay"
	delay=$((delay * 2))
done
