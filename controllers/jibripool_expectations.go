package controllers

import (
	"errors"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A pool lists its recorder pods from the cache, which lags the pool's own writes by a moment: a
// pod it has just created may be missing, and one it has just deleted may still look alive.
// Counted from such a list, the pool would create a recorder twice. So, as the ReplicaSet
// controller does, it remembers the pods it created and deleted until the cache shows them, and
// reads the cache through that memory (podExpectations). A restart loses nothing that matters: a
// new process's cache starts from a fresh list, which holds every pod created before.

// expectationTimeout is how long a write is remembered while the cache does not show it (a pod
// created and deleted again before the cache saw it never shows).
const expectationTimeout = 5 * time.Minute

// podExpectations are the recorder pod writes of each pool that its cache may not show yet.
type podExpectations struct {
	mu    sync.Mutex
	pools map[types.NamespacedName]*poolWrites
}

// poolWrites are one pool's writes the cache has not shown yet.
type poolWrites struct {
	// uid is the pool's: a pool deleted and created again under its name starts afresh.
	uid types.UID
	// created are the pods created, by name; an unsure one's create failed without saying
	// whether the pod was stored (a timeout, a lost connection).
	created map[string]createdPod
	// deleted are when the pods deleted were, by UID.
	deleted map[types.UID]time.Time
}

type createdPod struct {
	pod    *corev1.Pod
	at     time.Time
	unsure bool
}

// writes is the pool's record, made when missing; e.mu is held.
func (e *podExpectations) writes(key types.NamespacedName, uid types.UID) *poolWrites {
	if e.pools == nil {
		e.pools = map[types.NamespacedName]*poolWrites{}
	}
	w := e.pools[key]
	if w == nil || w.uid != uid {
		w = &poolWrites{uid: uid, created: map[string]createdPod{}, deleted: map[types.UID]time.Time{}}
		e.pools[key] = w
	}
	return w
}

// created remembers that pod was created for the pool (unsure: maybe).
func (e *podExpectations) created(key types.NamespacedName, poolUID types.UID, pod *corev1.Pod, unsure bool, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes(key, poolUID).created[pod.Name] = createdPod{pod: pod.DeepCopy(), at: now, unsure: unsure}
}

// deleted remembers that the pool's pod uid was deleted.
func (e *podExpectations) deleted(key types.NamespacedName, poolUID, uid types.UID, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writes(key, poolUID).deleted[uid] = now
}

// resolve settles the unsure create of pod name: pod is what the API server holds, nil when it
// holds none.
func (e *podExpectations) resolve(key types.NamespacedName, poolUID types.UID, name string, pod *corev1.Pod, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.writes(key, poolUID)
	if pod == nil {
		delete(w.created, name)
		return
	}
	w.created[name] = createdPod{pod: pod.DeepCopy(), at: now}
}

// forget drops the pool's record (the pool is gone).
func (e *podExpectations) forget(key types.NamespacedName) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pools, key)
}

// view is cached (the pool's pods as its cache lists them) with the pool's own writes the cache
// does not show yet: the pods created are added, the pods deleted are terminating. unsure names
// the pods whose create may have happened, for the caller to ask the API server about. What the
// cache shows is forgotten: a create once it lists the pod, a delete once it lists the pod
// terminating, or no longer lists a pod it had listed.
func (e *podExpectations) view(key types.NamespacedName, poolUID types.UID, cached []*corev1.Pod, now time.Time) (pods []*corev1.Pod, unsure []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.pools[key]
	if w == nil || w.uid != poolUID {
		return cached, nil
	}
	listed := make(map[string]bool, len(cached))
	listedUID := make(map[types.UID]bool, len(cached))
	for _, p := range cached {
		listed[p.Name], listedUID[p.UID] = true, true
	}
	// Creates first: a pod created and deleted before the cache listed it is in neither list.
	pending := map[types.UID]bool{}
	for name, c := range w.created {
		_, deleted := w.deleted[c.pod.UID]
		switch {
		case listed[name] || now.Sub(c.at) > expectationTimeout:
			delete(w.created, name)
		case c.unsure:
			unsure = append(unsure, name)
		case deleted:
			pending[c.pod.UID] = true
		default:
			pending[c.pod.UID] = true
			pods = append(pods, c.pod.DeepCopy())
		}
	}
	for uid, at := range w.deleted {
		// Not listed: gone, unless the cache has not listed its creation yet.
		if !listedUID[uid] && !pending[uid] || now.Sub(at) > expectationTimeout {
			delete(w.deleted, uid)
		}
	}
	out := make([]*corev1.Pod, 0, len(cached)+len(pods))
	for _, p := range cached {
		if at, deleted := w.deleted[p.UID]; deleted {
			if !p.DeletionTimestamp.IsZero() {
				delete(w.deleted, p.UID)
			} else {
				p = p.DeepCopy()
				p.DeletionTimestamp = &metav1.Time{Time: at}
			}
		}
		out = append(out, p)
	}
	if len(w.created) == 0 && len(w.deleted) == 0 {
		delete(e.pools, key)
	}
	return append(out, pods...), unsure
}

// createRefused reports whether a create's error says that nothing was stored: the API server
// answered and refused (invalid, forbidden, exists, throttled). A timeout, a server error or a
// lost connection leaves it open.
func createRefused(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	code := status.Status().Code
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout
}

// statusWrites remembers, per object, what the pool's last status write stored and the
// resourceVersion it was based on. While the cache still shows that version it has not seen the
// write: a reconcile that follows the write at once compares against what was written, instead of
// writing the same again (and, for a Meeting, conflicting with the write it does not see).
type statusWrites[T any] struct {
	mu      sync.Mutex
	objects map[types.UID]statusWrite[T]
	swept   time.Time
}

type statusWrite[T any] struct {
	base   string
	status T
	at     time.Time
}

// pending is the status last written to object uid when the cache, at resourceVersion rv, does
// not show that write yet.
func (w *statusWrites[T]) pending(uid types.UID, rv string) (T, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.objects[uid]
	if !ok || s.base != rv {
		delete(w.objects, uid)
		var none T
		return none, false
	}
	return s.status, true
}

// wrote remembers that status was written to object uid over resourceVersion base.
func (w *statusWrites[T]) wrote(uid types.UID, base string, status T, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.objects == nil {
		w.objects = map[types.UID]statusWrite[T]{}
	}
	if now.Sub(w.swept) > time.Minute {
		w.swept = now
		for k, s := range w.objects {
			if now.Sub(s.at) > expectationTimeout {
				delete(w.objects, k) // written, and never looked at again
			}
		}
	}
	w.objects[uid] = statusWrite[T]{base: base, status: status, at: now}
}
