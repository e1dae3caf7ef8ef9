#!/bin/sh
# Rendered by jitsi-operator: Jibri's finalize script. Jibri runs it with one argument, the
# recording session's directory, once a recording has stopped (and stays busy until it returns).
# It reports the session's files to the operator's receiver, signed with HMAC-SHA256 under the
# pool's report key, and retries while the receiver is unreachable or answers 5xx. The report
# names the recorder (JIBRI_INSTANCE_ID, the pod's name) and the session: the receiver takes it
# only for the session and room that recorder was given.
#
# With JITSI_OPERATOR_S3_BUCKET set it first uploads every file of the session directory with
# rclone to s3://<bucket>/<prefix>/<namespace>/<room>/<session>/<file>, verifies each object (its
# listed size, and the SHA-256 of the object read back through the server, compared with the local
# file's), deletes the local copy only once all are verified (unless JITSI_OPERATOR_KEEP_LOCAL is
# "true"), and reports url (s3://<bucket>/<key>), sizeBytes and sha256. When the upload fails for
# good, everything stays local and the report carries "error", a reason a person can act on, and
# the local paths. The exit code is 0 once the receiver took the report (with or without error).
#
# Runs under /bin/sh (dash in the image; bash works too) and needs its builtin printf, tr, sed,
# stat, sha256sum, cut, basename, date, curl and, for S3, rclone (no openssl). Environment:
#   JITSI_OPERATOR_RECORDING_URL  the receiver's /v1/jibri/recording-complete?pool=<ns>/<pool>
#   JITSI_OPERATOR_REPORT_KEY     the pool's report key (64 hex digits; never the events secret)
#   JIBRI_INSTANCE_ID             this recorder: its pod's name
#   JITSI_OPERATOR_S3_BUCKET      upload to this bucket (unset or empty: keep the files local)
#   JITSI_OPERATOR_S3_PREFIX      key prefix (may be empty)
#   JITSI_OPERATOR_NAMESPACE      the deployment's namespace, part of the key
#   JITSI_OPERATOR_S3_ENDPOINT    http(s) URL of an S3-compatible server (empty: AWS for the region)
#   JITSI_OPERATOR_S3_REGION      default us-east-1
#   JITSI_OPERATOR_S3_PATH_STYLE  "true" or "false" (empty: rclone's default)
#   JITSI_OPERATOR_S3_CREDENTIALS_DIR  directory with the files AWS_ACCESS_KEY_ID and
#                                 AWS_SECRET_ACCESS_KEY (a mounted Secret)
#   JITSI_OPERATOR_KEEP_LOCAL     "true": keep the local files after a verified upload
#   JITSI_OPERATOR_UPLOAD_ATTEMPTS  default 6; JITSI_OPERATOR_UPLOAD_BACKOFF  first delay in
#                                 seconds, default 5, doubling
# The report key leaves the environment before any program runs and is used by the shell alone
# (hmac_sha256). The S3 keys reach rclone only through its environment, for its own commands; the
# caller's AWS_* and RCLONE_* variables (AWS_CA_BUNDLE among them) are removed for rclone. Secrets
# are never printed, never on a command line and never in a URL.
set -eu
# Tracing would print the keys.
set +x

dir=${1:?usage: finalize-recording.sh <session directory>}
url=${JITSI_OPERATOR_RECORDING_URL:?not set}
report_key=${JITSI_OPERATOR_REPORT_KEY:?not set}
unset JITSI_OPERATOR_REPORT_KEY
recorder=${JIBRI_INSTANCE_ID:?not set}

# @hmac_sha256@ (the renderer puts hmac-sha256.sh here)

tab=$(printf '\t')
# json STRING: STRING as the inside of a JSON string: backslashes and quotes escaped, tabs and
# newlines as \t and \n, other control characters dropped.
json() {
	printf '%s\n' "$1" | tr -d '\001-\010\013-\037\177' |
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$tab/\\\\t/g" -e '$!s/$/\\n/' | tr -d '\n'
}

session=$(basename "$dir")
meeting_url=""
if [ -f "$dir/metadata.json" ]; then
	meeting_url=$(tr -d '\n' <"$dir/metadata.json" | sed -n 's/.*"meeting_url"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
fi
room=${meeting_url##*/}
room=${room%%\?*}

# report FILES ERROR: posts the report (ERROR empty: none) and exits.
report() {
	err_field=""
	[ -z "$2" ] || err_field=",\"error\":\"$(json "$2")\""
	body="{\"timestamp\":$(date +%s)000,\"recorder\":\"$(json "$recorder")\",\"session\":\"$(json "$session")\",\"room\":\"$(json "$room")\",\"meeting_url\":\"$(json "$meeting_url")\",\"files\":[$1]$err_field}"
	if ! signature=$(hmac_sha256 "$report_key" "$body"); then
		echo "finalize: cannot sign the report of $session: JITSI_OPERATOR_REPORT_KEY must be the pool's report key (hex digits)" >&2
		exit 1
	fi

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
}

# local_files: the report's entries for the files as they are on disk. Files are hashed from
# stdin: sha256sum marks a digest with a leading "\" when the file's name holds a backslash or
# a newline.
local_files() {
	files=""
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		size=$(stat -c %s "$f")
		sum=$(sha256sum <"$f" | cut -d' ' -f1)
		files="$files${files:+,}{\"name\":\"$(json "$(basename "$f")")\",\"path\":\"$(json "$f")\",\"sizeBytes\":$size,\"sha256\":\"$sum\"}"
	done
	printf '%s' "$files"
}

bucket=${JITSI_OPERATOR_S3_BUCKET:-}
if [ -z "$bucket" ]; then
	report "$(local_files)" ""
fi

# --- upload to S3 ---

bool() { [ "$(printf '%s' "${1:-}" | tr 'A-Z' 'a-z')" = true ]; }
count() { case ${1:-} in '' | *[!0-9]*) echo "$2" ;; *) echo "$1" ;; esac; }
attempts=$(count "${JITSI_OPERATOR_UPLOAD_ATTEMPTS:-}" 6)
[ "$attempts" -ge 1 ] || attempts=1
backoff=$(count "${JITSI_OPERATOR_UPLOAD_BACKOFF:-}" 5)
endpoint=${JITSI_OPERATOR_S3_ENDPOINT:-}
region=${JITSI_OPERATOR_S3_REGION:-us-east-1}
path_style=${JITSI_OPERATOR_S3_PATH_STYLE:-}
creds=${JITSI_OPERATOR_S3_CREDENTIALS_DIR:-}

# The key: the non-empty ones of prefix, namespace, room and session, joined by single slashes.
key=""
for part in "${JITSI_OPERATOR_S3_PREFIX:-}" "${JITSI_OPERATOR_NAMESPACE:-}" "$room" "$session"; do
	part=$(printf '%s' "$part" | sed 's#//*#/#g; s#^/##; s#/$##')
	if [ -n "$part" ]; then key="$key${key:+/}$part"; fi
done
target="s3://$bucket/$key"

# rclone ARGS...: rclone with an on-the-fly remote "jitsis3" defined only in its environment (in a
# subshell, so nothing leaks to curl), without the caller's AWS_*, RCLONE_* and JITSI_OPERATOR_*
# variables. Remote paths end with "/": rclone then takes
# them as directories without a HEAD request, which would turn a 403 into "is a file".
rclone_s3() (
	for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(RCLONE_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(JITSI_OPERATOR_[A-Za-z0-9_]*\)=.*/\1/p'); do
		unset "$v" 2>/dev/null || true
	done
	export RCLONE_CONFIG_JITSIS3_TYPE=s3
	export RCLONE_CONFIG_JITSIS3_ENV_AUTH=false
	export RCLONE_CONFIG_JITSIS3_REGION="$region"
	# Never create the bucket: a missing one is an error a person has to fix.
	export RCLONE_CONFIG_JITSIS3_NO_CHECK_BUCKET=true
	if [ -n "$endpoint" ]; then
		export RCLONE_CONFIG_JITSIS3_PROVIDER=Other RCLONE_CONFIG_JITSIS3_ENDPOINT="$endpoint"
	else
		export RCLONE_CONFIG_JITSIS3_PROVIDER=AWS
	fi
	if [ -n "$path_style" ]; then export RCLONE_CONFIG_JITSIS3_FORCE_PATH_STYLE="$path_style"; fi
	export RCLONE_CONFIG_JITSIS3_ACCESS_KEY_ID="$key_id"
	export RCLONE_CONFIG_JITSIS3_SECRET_ACCESS_KEY="$key_secret"
	rclone --retries 1 --low-level-retries 2 --contimeout 15s --timeout 2m -q "$@"
)

# excerpt OUTPUT: the last error line of rclone's output, one line, without secrets.
excerpt() {
	case $1 in *"$key_secret"*) echo "(rclone's output withheld: it contains a secret)"; return ;; esac
	printf '%s\n' "$1" | sed -n 's/^[0-9/]* [0-9:.]* //; /./h; ${x;p}' |
		sed 's/.*api error /api error /; s/.*request send failed, //' | tr -d '[:cntrl:]' | cut -c1-300
}

# classify OUTPUT CODE: sets reason (for the report) and permanent (no point in retrying).
classify() {
	permanent=false
	case $1 in
	*InvalidAccessKeyId* | *SignatureDoesNotMatch* | *AccessDenied* | *"Access Denied"* | *ExpiredToken* | \
		*InvalidToken* | *"StatusCode: 403"* | *Forbidden*)
		reason="S3 access denied to bucket $bucket at ${endpoint:-AWS $region}: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) in the Secret and that they may write the bucket"
		permanent=true ;;
	*NoSuchBucket* | *"bucket does not exist"* | *"specified bucket does not exist"*)
		reason="S3 bucket $bucket does not exist at ${endpoint:-AWS $region}: create it or fix the bucket name"
		permanent=true ;;
	*"connection refused"* | *"no such host"* | *"i/o timeout"* | *"network is unreachable"* | \
		*"no route to host"* | *"connection reset"* | *"deadline exceeded"* | *"dial tcp"* | *EOF* | \
		*"server misbehaving"*)
		reason="S3 endpoint ${endpoint:-of AWS $region} unreachable: check the endpoint, DNS and network policy" ;;
	*x509* | *certificate* | *tls:*)
		reason="S3 endpoint ${endpoint:-of AWS $region} failed the TLS handshake: check its certificate" ;;
	*)
		if [ "$2" = 127 ]; then
			reason="rclone is not installed in the Jibri image"
			permanent=true
		else
			reason="S3 upload failed (rclone exit $2)"
		fi ;;
	esac
	detail=$(excerpt "$1")
	[ -z "$detail" ] || reason="$reason; rclone: $detail"
}

# upload: copies the directory and verifies every object; returns non-zero with reason set.
upload() {
	code=0
	out=$(rclone_s3 copy --max-depth 1 "$dir" "jitsis3:$bucket/$key/" 2>&1) || code=$?
	if [ "$code" -ne 0 ]; then classify "$out" "$code"; return 1; fi
	code=0
	listing=$(rclone_s3 lsf --files-only --max-depth 1 --format sp --separator / "jitsis3:$bucket/$key/" 2>&1) || code=$?
	if [ "$code" -ne 0 ]; then classify "$listing" "$code"; return 1; fi
	uploaded=""
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		size=$(stat -c %s "$f")
		sum=$(sha256sum <"$f" | cut -d' ' -f1)
		remote_size=""
		while IFS= read -r line; do
			if [ "${line#*/}" = "$name" ]; then remote_size=${line%%/*}; fi
		done <<-EOF
			$listing
		EOF
		if [ "$remote_size" != "$size" ]; then
			reason="S3 object $target/$name has ${remote_size:-no} size after the upload, not $size bytes"
			permanent=false
			return 1
		fi
		remote_sum=$(rclone_s3 cat "jitsis3:$bucket/$key/$name" 2>/dev/null | sha256sum | cut -d' ' -f1)
		if [ "$remote_sum" != "$sum" ]; then
			reason="S3 object $target/$name reads back with SHA-256 $remote_sum, not $sum"
			permanent=false
			return 1
		fi
		entry="{\"name\":\"$(json "$name")\",\"url\":\"$(json "$target/$name")\",\"sizeBytes\":$size,\"sha256\":\"$sum\""
		if bool "${JITSI_OPERATOR_KEEP_LOCAL:-}"; then entry="$entry,\"path\":\"$(json "$f")\""; fi
		uploaded="$uploaded${uploaded:+,}$entry}"
	done
}

key_id="" key_secret=""
if [ -n "$creds" ] && [ -r "$creds/AWS_ACCESS_KEY_ID" ] && [ -r "$creds/AWS_SECRET_ACCESS_KEY" ]; then
	key_id=$(tr -d '\r\n' <"$creds/AWS_ACCESS_KEY_ID")
	key_secret=$(tr -d '\r\n' <"$creds/AWS_SECRET_ACCESS_KEY")
fi
if [ -z "$key_id" ] || [ -z "$key_secret" ]; then
	echo "finalize: no S3 credentials in ${creds:-JITSI_OPERATOR_S3_CREDENTIALS_DIR (unset)}; keeping $session local" >&2
	report "$(local_files)" "S3 credentials missing: JITSI_OPERATOR_S3_CREDENTIALS_DIR must hold the files AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the recording stays on the Jibri pod)"
fi

n=1
delay=$backoff
started=$(date +%s)
while :; do
	echo "finalize: uploading $session to $target/ (attempt $n of $attempts)"
	reason="" permanent=false uploaded=""
	if upload; then
		break
	fi
	echo "finalize: $reason" >&2
	if [ "$permanent" = true ] || [ "$n" -ge "$attempts" ]; then
		echo "finalize: giving up the upload of $session after $n attempt(s); the files stay in $dir" >&2
		report "$(local_files)" "$reason (after $n attempt(s); the recording stays on the Jibri pod in $dir)"
	fi
	echo "finalize: retrying the upload in ${delay}s" >&2
	sleep "$delay"
	delay=$((delay * 2))
	n=$((n + 1))
done
echo "finalize: uploaded and verified $session to $target/ in $(($(date +%s) - started))s"

if ! bool "${JITSI_OPERATOR_KEEP_LOCAL:-}"; then
	for f in "$dir"/*; do
		if [ -f "$f" ]; then rm -f -- "$f"; fi
	done
	rmdir -- "$dir" 2>/dev/null || echo "finalize: $dir is not empty; left in place" >&2
fi
report "$uploaded" ""
