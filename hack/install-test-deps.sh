#!/usr/bin/env bash
# Installs what the tests need beyond Go, from Debian's packages: a real Prosody (with Lua 5.4)
# and slixmpp for the Prosody module test, nginx with the RTMP module and ffmpeg for the RTMP relay
# test, coturn for the TURN test, PulseAudio (with its clients and ALSA's pulse plugin) for the
# recorder's PulseAudio test, and curl for the shipped scripts. Does nothing when they
# are already there. Debian starts Prosody, nginx and coturn as services on install; the tests run
# their own, so the services are stopped again (PulseAudio starts per user, never as a service).
set -euo pipefail

missing=()
command -v prosody >/dev/null || missing+=(prosody)
command -v lua5.4 >/dev/null || missing+=(lua5.4)
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || missing+=(python3-slixmpp)
# The RTMP relay test (test/rtmp): nginx with the RTMP module, and ffmpeg (with ffprobe).
[[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
[[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]] || missing+=(libnginx-mod-rtmp)
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
# The TURN test (test/turn): coturn's turnserver and its turnutils_uclient client.
command -v turnserver >/dev/null && command -v turnutils_uclient >/dev/null || missing+=(coturn)
# The recorder's PulseAudio test (test/pulseaudio): pulseaudio, its pactl and pacat, and ALSA's
# pulse plugin, the test's stand-in for a sound card's clock.
command -v pulseaudio >/dev/null || missing+=(pulseaudio)
command -v pactl >/dev/null && command -v pacat >/dev/null || missing+=(pulseaudio-utils)
compgen -G '/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so' >/dev/null || missing+=(libasound2-plugins)
# The shipped scripts (finalize, ffmpeg wrapper, relay push) and the tests that run them post
# with curl (they sign with sha256sum and the shell's own printf).
command -v curl >/dev/null || missing+=(curl)
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "[test-deps] installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v service >/dev/null; then
	"${sudo[@]}" service prosody stop >/dev/null 2>&1 || true
	"${sudo[@]}" service nginx stop >/dev/null 2>&1 || true
	"${sudo[@]}" service coturn stop >/dev/null 2>&1 || true
fi
