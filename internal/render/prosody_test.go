package render

import (
	"strings"
	"testing"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
)

// TestProsodyAdmitPublicWhenReceiverDown: spec.webhooks.admitPublicRoomsWhenReceiverDown reaches
// the module's option, true when unset.
func TestProsodyAdmitPublicWhenReceiverDown(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name  string
		value *bool
		want  string
	}{
		{"unset", nil, "jitsi_operator_admit_public_when_unreachable = true\n"},
		{"true", &yes, "jitsi_operator_admit_public_when_unreachable = true\n"},
		{"false", &no, "jitsi_operator_admit_public_when_unreachable = false\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Webhooks.AdmitPublicRoomsWhenReceiverDown = tc.value })
			conf := ProsodyConfigMap(input(d)).Data[prosodyConfFile]
			if n := strings.Count(conf, "jitsi_operator_admit_public_when_unreachable ="); n != 1 || !strings.Contains(conf, tc.want) {
				t.Errorf("want %q once in the rendered settings:\n%s", tc.want, conf)
			}
		})
	}
	if !strings.Contains(EventsModule, `module:get_option_boolean("jitsi_operator_admit_public_when_unreachable", true)`) {
		t.Error("the module does not read the option the operator renders (or its default is not true)")
	}
}

// TestProsodyRollsOnItsConfig: Prosody reads its settings and module only at start, so a change
// to either rolls it; the hash of the Secrets it reads still counts, and the caller's hashes are
// left alone.
func TestProsodyRollsOnItsConfig(t *testing.T) {
	hash := func(in Input) string { return ProsodyDeployment(in).Spec.Template.Annotations[AnnotationConfigHash] }
	base := input(deployment())
	if hash(base) == "" || hash(base) != hash(input(deployment())) {
		t.Fatalf("prosody's template hash %q is missing or not stable", hash(base))
	}
	no := false
	off := input(deployment(func(d *jitsiv1alpha1.JitsiDeployment) { d.Spec.Webhooks.AdmitPublicRoomsWhenReceiverDown = &no }))
	if hash(off) == hash(base) {
		t.Error("changing admitPublicRoomsWhenReceiverDown does not roll Prosody")
	}
	withSecrets := input(deployment())
	withSecrets.ConfigHashes = map[string]string{ComponentProsody: "secrets-hash"}
	if hash(withSecrets) == hash(base) {
		t.Error("the Secrets' hash no longer rolls Prosody")
	}
	if withSecrets.ConfigHashes[ComponentProsody] != "secrets-hash" {
		t.Error("ProsodyDeployment changed the caller's ConfigHashes")
	}
	if JicofoDeployment(off).Spec.Template.Annotations[AnnotationConfigHash] != JicofoDeployment(base).Spec.Template.Annotations[AnnotationConfigHash] {
		t.Error("jicofo would roll for prosody's settings")
	}
}
