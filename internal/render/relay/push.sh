#!/bin/sh
# Rendered by jitsi-operator: the RTMP relay's push script. nginx runs it once for each stream it
# admitted (exec_push ... $name) and sends it TERM when the stream ends. It asks the operator's
# receiver where this stream goes, runs one ffmpeg per destination (each on its own, so that one
# that refuses or drops leaves the others live), and reports each destination's state.
#
# Destination URLs carry stream keys and the receiver URL carries the pool's token: neither is
# ever written to stdout or stderr, and the receiver URL reaches curl on its standard input (a
# config line written by the shell's own printf), never on a command line.
#
# Needs sh, curl, ffmpeg, awk, tail, mktemp. Environment:
#   JITSI_OPERATOR_RELAY_URL     <receiver>/v1/rtmp/pools/<namespace>/<pool>/<token>
#   JITSI_OPERATOR_RELAY_SOURCE  where the stream is read from; default rtmp://127.0.0.1:1935/live
set -u

stream=${1:?usage: push.sh <stream name>}
base=${JITSI_OPERATOR_RELAY_URL:?not set}
source=${JITSI_OPERATOR_RELAY_SOURCE:-rtmp://127.0.0.1:1935/live}

log() { echo "push: $*" >&2; }

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

# receiver <path>: curl's config line for the receiver URL + path, for curl -K - (the token
# stays off every command line).
receiver() { printf 'url = "%s%s"\n' "$base" "$1"; }

# report <destination> <state> [error]: best effort; a lost report must not stop a push.
report() {
	if [ $# -ge 3 ]; then
		receiver /destination-status | curl -s -o /dev/null --max-time 10 -X POST --data-urlencode "stream=$stream" \
			--data-urlencode "destination=$1" --data-urlencode "state=$2" --data-urlencode "error=$3" \
			-K - || log "could not report $1 $2"
	else
		receiver /destination-status | curl -s -o /dev/null --max-time 10 -X POST --data-urlencode "stream=$stream" \
			--data-urlencode "destination=$1" --data-urlencode "state=$2" \
			-K - || log "could not report $1 $2"
	fi
}

# redact <url>: stdin without secrets: the destination's URL, path and key (its last path
# segment), and the stream's name (a meeting's stream key) with its source URL.
redact() {
	PUSH_URL=$1 PUSH_SOURCE=$source/$stream PUSH_STREAM=$stream awk '
	function cut(s, what, with,   i, out) {
		if (what == "") return s
		out = ""
		while ((i = index(s, what)) > 0) {
			out = out substr(s, 1, i - 1) with
			s = substr(s, i + length(what))
		}
		return out s
	}
	BEGIN {
		url = ENVIRON["PUSH_URL"]
		path = url; sub(/^[a-zA-Z]+:\/\/[^\/]*/, "", path)
		key = path; sub(/^.*\//, "", key)
	}
	{
		s = cut(cut($0, url, "<destination>"), ENVIRON["PUSH_SOURCE"], "<source>")
		s = cut(cut(s, path, "<path>"), ENVIRON["PUSH_STREAM"], "<stream>")
		print cut(s, key, "<stream key>")
	}'
}

# push <destination> <url>: one destination, until ffmpeg ends or the stream stops.
push() {
	name=$1 url=$2 err=$work/$1.err stopping=0 ff=""
	# ffmpeg's first signal ends it between two reads, its second interrupts a read that waits
	# for input: the stream has ended, so it gets both.
	trap 'stopping=1; [ -z "$ff" ] || { kill -TERM "$ff"; kill -INT "$ff"; } 2>/dev/null' TERM
	report "$name" Live
	[ "$stopping" -eq 0 ] || { report "$name" Stopped; return 0; }
	ffmpeg -nostdin -loglevel error -i "$source/$stream" -c copy -f flv "$url" 2>"$err" &
	ff=$!
	# wait returns early when a signal is trapped: wait again until ffmpeg is gone.
	while :; do
		wait "$ff"
		status=$?
		kill -0 "$ff" 2>/dev/null || break
	done
	if [ "$status" -eq 0 ] || [ "$stopping" -eq 1 ]; then
		report "$name" Stopped
		log "$name stopped"
		return 0
	fi
	reason=$(grep -v '^[[:space:]]*$' "$err" | tail -n 1 | redact "$url" | cut -c 1-300)
	report "$name" Failed "${reason:-ffmpeg exited with status $status}"
	log "$name failed (ffmpeg exited with status $status)"
	return 1
}

# TERM (the stream ended, or nginx stops) or INT: every destination stops its ffmpeg and reports
# Stopped; no new one starts.
ended=0 pids=""
trap 'ended=1; [ -z "$pids" ] || kill -TERM $pids 2>/dev/null' TERM INT

list=$work/destinations
code=$(receiver /destinations | curl -s -o "$list" -w '%{http_code}' --max-time 15 -G --data-urlencode "stream=$stream" \
	-K -) || code=000
if [ "$code" != 200 ]; then
	log "the receiver answered $code for the destinations of this stream: not pushing"
	exit 1
fi

while read -r name url extra; do
	[ "$ended" -eq 0 ] || break
	[ -n "$name" ] || continue
	case $name in
	*[!a-z0-9-]* | -* | *-)
		log "skipping a destination with an invalid name"
		continue
		;;
	esac
	case $url in
	rtmp://?* | rtmps://?*) ;;
	*)
		log "skipping destination $name: not an rtmp or rtmps URL"
		continue
		;;
	esac
	push "$name" "$url" &
	pids="$pids $!"
done <"$list"

if [ -z "$pids" ]; then
	[ "$ended" -eq 1 ] || log "no destinations for this stream"
	exit 0
fi

failed=0
for pid in $pids; do
	while :; do
		wait "$pid"
		status=$?
		kill -0 "$pid" 2>/dev/null || break
	done
	[ "$status" -eq 0 ] || failed=1
done
exit "$failed"
