package webhook

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// userSecretTTL is how long the receiver keeps a user's Secret (or its absence) once read: the
// operator's cache holds only the Secrets the operator made, so a Secret a user names (an events
// secret of webhooks.secretRef, a JWT secret, a stream key) is read by name from the API server,
// at most once per this period however many requests need it.
const userSecretTTL = 30 * time.Second

type secretMemo struct {
	mu   sync.Mutex
	byNS map[types.NamespacedName]memoEntry
}

type memoEntry struct {
	data map[string][]byte // nil: the Secret does not exist
	read time.Time
}

// secretData is the data of Secret key, nil when it does not exist: from the cache for the
// operator's own Secrets, else read by name (and remembered for userSecretTTL).
func (s *Server) secretData(ctx context.Context, key types.NamespacedName) (map[string][]byte, error) {
	secret := &corev1.Secret{}
	err := s.Client.Get(ctx, key, secret)
	if err == nil {
		return secret.Data, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	now := time.Now()
	s.userSecrets.mu.Lock()
	e, ok := s.userSecrets.byNS[key]
	s.userSecrets.mu.Unlock()
	if ok && now.Sub(e.read) < userSecretTTL {
		return e.data, nil
	}
	err = s.Reader.Get(ctx, key, secret)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	e = memoEntry{read: now}
	if err == nil {
		e.data = secret.Data
		if e.data == nil {
			e.data = map[string][]byte{}
		}
	}
	s.userSecrets.mu.Lock()
	if s.userSecrets.byNS == nil {
		s.userSecrets.byNS = map[types.NamespacedName]memoEntry{}
	}
	s.userSecrets.byNS[key] = e
	s.userSecrets.mu.Unlock()
	return e.data, nil
}
