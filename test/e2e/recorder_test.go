//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// recordingData is the media file of every stand-in recording.
var recordingData = bytes.Repeat([]byte("frame"), 2000)

// recordingFile is the file the recorder of the current room leaves.
func (s *story) recordingFile() string { return s.room + "_2026-11-25-10-00-00.mp4" }

// finalize runs the shipped finalize script as recorder pod's Jibri would: on session's
// directory in the pod's recordings directory, with the pod's environment and Secret volumes,
// and bin/rclone first in PATH.
func (s *story) finalize(script, pod, session string) {
	c, err := s.container(pod)
	if err != nil {
		s.t.Errorf("recorder %s: %v", pod, err)
		return
	}
	dir := filepath.Join(c.root, render.JibriRecordingsDir, session)
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, s.recordingFile()), recordingData, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"meeting_url":"https://meet.example.com/`+s.room+`","participants":[]}`), 0o644)
	s.mu.Lock()
	s.sessions[s.room] = dir
	s.mu.Unlock()
	cmd := exec.Command("sh", script, dir)
	cmd.Env = append(append(os.Environ(), c.env...),
		"PATH="+filepath.Dir(s.s3.rclone)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+c.root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Errorf("finalize script: %v\n%s", err, out)
	}
}

// container is a recorder pod's container played on the host: its files are under root, where
// the Secret volumes it mounts are projected, and env is the operator's part of its environment.
type container struct {
	root string
	env  []string
}

// container builds pod's container as the kubelet would, from the pod's spec: the Secret volumes
// it mounts, then JITSI_OPERATOR_* and the instance id from literal values (paths into those
// volumes taken under root), Secret keys and the pod's own fields.
func (s *story) container(name string) (*container, error) {
	pod := &corev1.Pod{}
	if err := s.admin.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, pod); err != nil {
		return nil, err
	}
	c := &container{root: filepath.Join(s.dir, "pods", pod.Name)}
	spec := pod.Spec.Containers[0]
	mounts, err := s.mountSecrets(pod, spec, c.root)
	if err != nil {
		return nil, err
	}
	onHost := func(v string) string {
		for _, m := range mounts {
			if v == m || strings.HasPrefix(v, m+"/") {
				return filepath.Join(c.root, v)
			}
		}
		return v
	}
	for _, e := range spec.Env {
		if !strings.HasPrefix(e.Name, "JITSI_OPERATOR_") && e.Name != "JIBRI_INSTANCE_ID" {
			continue
		}
		switch from := e.ValueFrom; {
		case from == nil:
			c.env = append(c.env, e.Name+"="+onHost(e.Value))
		case from.SecretKeyRef != nil:
			secret := &corev1.Secret{}
			if err := s.admin.Get(context.Background(), types.NamespacedName{Namespace: pod.Namespace, Name: from.SecretKeyRef.Name}, secret); err != nil {
				return nil, err
			}
			v, ok := secret.Data[from.SecretKeyRef.Key]
			if !ok {
				return nil, fmt.Errorf("%s: Secret %s has no key %s", e.Name, secret.Name, from.SecretKeyRef.Key)
			}
			c.env = append(c.env, e.Name+"="+string(v))
		case from.FieldRef != nil && from.FieldRef.FieldPath == "metadata.name":
			c.env = append(c.env, e.Name+"="+pod.Name)
		case from.FieldRef != nil && from.FieldRef.FieldPath == "metadata.namespace":
			c.env = append(c.env, e.Name+"="+pod.Namespace)
		}
	}
	return c, nil
}

// mountSecrets projects the Secret volumes spec mounts (whole, not by subPath) under root as the
// kubelet does: the items listed, or else every key, each a file with its mode. It returns their
// mount paths.
func (s *story) mountSecrets(pod *corev1.Pod, spec corev1.Container, root string) ([]string, error) {
	volumes := map[string]*corev1.SecretVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			volumes[v.Name] = v.Secret
		}
	}
	var mounted []string
	for _, m := range spec.VolumeMounts {
		src := volumes[m.Name]
		if src == nil || m.SubPath != "" {
			continue
		}
		secret := &corev1.Secret{}
		if err := s.admin.Get(context.Background(), types.NamespacedName{Namespace: pod.Namespace, Name: src.SecretName}, secret); err != nil {
			return nil, fmt.Errorf("volume %s: %w", m.Name, err)
		}
		items := src.Items
		if len(items) == 0 {
			for k := range secret.Data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		dir := filepath.Join(root, m.MountPath)
		// Projected afresh each time, as the kubelet refreshes a Secret volume.
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		for _, it := range items {
			data, ok := secret.Data[it.Key]
			if !ok {
				return nil, fmt.Errorf("volume %s: Secret %s has no key %s", m.Name, secret.Name, it.Key)
			}
			mode := int32(0o644)
			if it.Mode != nil {
				mode = *it.Mode
			} else if src.DefaultMode != nil {
				mode = *src.DefaultMode
			}
			file := filepath.Join(dir, it.Path)
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(file, data, os.FileMode(mode)); err != nil {
				return nil, err
			}
		}
		mounted = append(mounted, path.Clean(m.MountPath))
	}
	return mounted, nil
}

// uploaded checks that files, a Meeting's recording files, are the current room's recording as
// the finalize script uploads it: s3:// URLs, no local path, the media file's size and SHA-256;
// that the server stores that object with those bytes; and that the local copy is gone.
func (s *story) uploaded(files []jitsiv1alpha1.RecordingFile) error {
	s.mu.Lock()
	dir := s.sessions[s.room]
	s.mu.Unlock()
	if dir == "" {
		return fmt.Errorf("no recorder finalized %s", s.room)
	}
	key := strings.Join([]string{prefix, ns, s.room, filepath.Base(dir), s.recordingFile()}, "/")
	sum := sha256.Sum256(recordingData)
	want := jitsiv1alpha1.RecordingFile{Name: s.recordingFile(), URL: "s3://" + bucket + "/" + key,
		SizeBytes: int64(len(recordingData)), SHA256: hex.EncodeToString(sum[:])}
	found := false
	for _, f := range files {
		if f.Path != "" || !strings.HasPrefix(f.URL, "s3://"+bucket+"/") {
			return fmt.Errorf("file %+v: want an s3:// URL and no local path", f)
		}
		found = found || f == want
	}
	if !found {
		return fmt.Errorf("no %+v among the files %+v", want, files)
	}
	stored, err := s.s3.object(key)
	if err != nil {
		return fmt.Errorf("the S3 server does not store %s: %v", key, err)
	}
	if got := sha256.Sum256(stored); got != sum {
		return fmt.Errorf("the S3 server stores %s with sha256 %x, want %x", key, got, sum)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		return fmt.Errorf("the local copy %s is still there after the upload (%v)", dir, err)
	}
	return nil
}
