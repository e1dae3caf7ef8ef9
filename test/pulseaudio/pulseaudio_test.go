// Package pulseaudio runs the recorder's rendered PulseAudio startup script (SndAloop mode) with
// Debian's real PulseAudio. There is no sound card here, so the test's own ALSA configuration
// redefines the "hw" PCM as one file per card and device: what PulseAudio plays into hw:3,0
// lands in out-3-0.raw, and any other device it opened would leave a file of its own.
package pulseaudio

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitsi-operator/jitsi-operator/internal/render"
	"github.com/jitsi-operator/jitsi-operator/internal/testproc"
)

// card is the loopback card index rendered; not 0, so a hard-coded card 0 would show.
const card = 3

// The tone played: 1 s of 440 Hz at a quarter of full scale, s16le stereo at 44.1 kHz
// (PulseAudio's default sample spec, so it reaches the card unconverted).
const (
	rate      = 44100
	amplitude = 8192
)

// asoundrc redefines ALSA's hw:CARD,DEV as its file plugin writing to out/out-CARD-DEV.raw.
// The plugin's slave is the card's clock. ALSA's "null" PCM has none: it takes any amount at
// once, so PulseAudio wrote silence into the file as fast as it could (some 40 MB/s). So the
// slave plays in real time instead: a second, test-only PulseAudio's null sink, through ALSA's
// pulse plugin. truncate false: a sink resumed after suspend-on-idle appends instead of wiping
// what was played.
const asoundrc = `pcm.!hw {
	@args [ CARD DEV ]
	@args.CARD { type string }
	@args.DEV { type integer default 0 }
	type file
	slave.pcm { type pulse server "unix:%[1]s" }
	file { @func concat strings [ "%[2]s/out-" $CARD "-" $DEV ".raw" ] }
	format raw
	truncate false
}
`

func TestSndAloopDefaultSinkPlaysIntoCardDevice0(t *testing.T) {
	pulseaudio, pactl, pacat := findPulseAudio(t)
	dir := t.TempDir()
	home, runtime, out, clockDir := mkdir(t, dir, "home"), mkdir(t, dir, "run"), mkdir(t, dir, "out"), mkdir(t, dir, "clock")

	// The clock must be up before the recorder's PulseAudio opens hw:3,0 at startup.
	clockSocket := filepath.Join(clockDir, "native")
	clock := testproc.Start(t, "clock pulseaudio", daemon(pulseaudio, clockDir, clockDir, "-n",
		"--load=module-native-protocol-unix auth-anonymous=1 socket="+clockSocket, "--load=module-null-sink"), nil)
	procs := []*testproc.Group{clock}
	waitFor(t, "the clock PulseAudio", procs, func() bool {
		_, err := client(2*time.Second, env(clockDir, clockDir), nil, pactl, "unix:"+clockSocket, "info")
		return err == nil
	})

	// Where the image's PulseAudio reads it (HOME/.config/pulse), started as the image starts it:
	// no -n, no -F, so this user script replaces /etc/pulse/default.pa, which it includes itself.
	writeFile(t, filepath.Join(home, ".config", "pulse", "default.pa"), render.PulseSndAloopConfig(card))
	writeFile(t, filepath.Join(home, ".asoundrc"), fmt.Sprintf(asoundrc, clockSocket, out))
	recorder := testproc.Start(t, "pulseaudio", daemon(pulseaudio, home, runtime, "-v"), nil)
	procs = append(procs, recorder)
	server, clientEnv := "unix:"+filepath.Join(runtime, "pulse", "native"), env(home, runtime)

	var info string
	waitFor(t, "pactl info", procs, func() bool {
		var err error
		info, err = client(2*time.Second, clientEnv, nil, pactl, server, "info")
		return err == nil
	})
	// /etc/pulse/default.pa ends in .nofail, so a rejected load-module line would not stop the
	// daemon: the default sink would be module-always-sink's auto_null instead.
	if !strings.Contains(info, "Default Sink: jibri-aloop\n") {
		t.Fatalf("default sink is not jibri-aloop:\n%s\npulseaudio's log:\n%s", info, recorder.Out)
	}

	// An idle sink plays silence: the file exists, growing with the clock, before the tone.
	played := filepath.Join(out, fmt.Sprintf("out-%d-0.raw", card))
	waitFor(t, "silence in "+played, procs, func() bool { return len(readFile(played)) > 0 })
	before := len(readFile(played))

	// pacat returns once the tone has drained.
	if b, err := client(5*time.Second, clientEnv, tone(), pacat, server, "--playback", "--raw", "--format=s16le",
		fmt.Sprintf("--rate=%d", rate), "--channels=2"); err != nil {
		t.Fatalf("pacat: %v\n%s\npulseaudio's log:\n%s", err, b, recorder.Out)
	}
	// A sine is above half its peak two thirds of the time, so a third of the tone's samples
	// means most of the tone arrived, with room for an underrun or two.
	var loud int
	waitFor(t, "the tone in "+played, procs, func() bool {
		loud = loudSamples(readFile(played))
		return loud >= 2*rate/3
	})
	after := len(readFile(played))
	t.Logf("%s: %d bytes before the tone, %d after, %d loud samples", filepath.Base(played), before, after, loud)
	if after <= before {
		t.Errorf("%s did not grow", played)
	}

	// Device 1 is the capture side, Jibri's ffmpeg's: PulseAudio must open nothing but hw:3,0.
	if files, _ := filepath.Glob(filepath.Join(out, "*")); len(files) != 1 {
		t.Errorf("PulseAudio opened other ALSA devices than hw:%d,0: %v", card, files)
	}
}

// findPulseAudio finds Debian's pulseaudio and pulseaudio-utils and checks for ALSA's pulse
// plugin (libasound2-plugins). Without pulseaudio the test skips, except in CI, where it fails.
func findPulseAudio(t *testing.T) (pulseaudio, pactl, pacat string) {
	t.Helper()
	pulseaudio, err := exec.LookPath("pulseaudio")
	if err != nil {
		msg := "pulseaudio not installed: run make test-deps (Debian package pulseaudio)"
		if _, ci := os.LookupEnv("CI"); !ci {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	for name, dst := range map[string]*string{"pactl": &pactl, "pacat": &pacat} {
		if *dst, err = exec.LookPath(name); err != nil {
			t.Fatalf("%s not installed: run make test-deps (Debian package pulseaudio-utils)", name)
		}
	}
	if m, _ := filepath.Glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so"); len(m) == 0 {
		t.Fatal("ALSA's pulse plugin not installed: run make test-deps (Debian package libasound2-plugins)")
	}
	return pulseaudio, pactl, pacat
}

// daemon is a per-user PulseAudio in the foreground, as whoever runs the test: as root it only
// warns ("not intended to be run as root"), so no --system and no other uid.
func daemon(pulseaudio, home, runtime string, args ...string) *exec.Cmd {
	cmd := exec.Command(pulseaudio, append([]string{"--daemonize=no", "--exit-idle-time=-1", "--log-target=stderr"}, args...)...)
	cmd.Env = env(home, runtime)
	return cmd
}

// env is the whole environment of a daemon or client, so no session bus, DISPLAY, PULSE_* or
// ALSA_* of the host leaks in.
func env(home, runtime string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_RUNTIME_DIR=" + runtime, "LANG=C"}
}

// client runs a PulseAudio client against server for at most timeout; with a server given, no
// client autospawns a daemon.
func client(timeout time.Duration, env []string, stdin []byte, prog, server string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, append([]string{"--server=" + server}, args...)...)
	cmd.Env, cmd.Stdin = env, bytes.NewReader(stdin)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// tone is the tone, the same on both channels.
func tone() []byte {
	b := make([]byte, rate*4)
	for i := 0; i < rate; i++ {
		v := uint16(int16(amplitude * math.Sin(2*math.Pi*440*float64(i)/rate)))
		binary.LittleEndian.PutUint16(b[4*i:], v)
		binary.LittleEndian.PutUint16(b[4*i+2:], v)
	}
	return b
}

// loudSamples counts the s16le samples in raw at least half the tone's amplitude.
func loudSamples(raw []byte) int {
	n := 0
	for i := 0; i+1 < len(raw); i += 2 {
		if v := int16(binary.LittleEndian.Uint16(raw[i:])); v >= amplitude/2 || v <= -amplitude/2 {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to 5 s; it fails the test, with the daemons' logs, when that passes
// or one of them exits.
func waitFor(t *testing.T, what string, procs []*testproc.Group, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		failed := time.Now().After(deadline)
		var logs strings.Builder
		for _, p := range procs {
			failed = failed || p.Exited()
			fmt.Fprintf(&logs, "%s (exited: %v %v):\n%s\n", p.Name, p.Exited(), p.Err(), p.Out)
		}
		if failed {
			t.Fatalf("no %s within 5s:\n%s", what, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mkdir makes dir/name 0700: PulseAudio refuses a runtime directory others can enter.
func mkdir(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	mkdir(t, filepath.Dir(path), "")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// readFile is path's content, or nothing while it does not exist yet.
func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}
