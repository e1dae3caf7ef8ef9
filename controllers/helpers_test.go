package controllers_test

import (
	"reflect"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// conflictBackoff spaces the attempts of updateSpec and updateStatus: 10 ms doubling, about 10 s
// in all, enough to get between the controllers' writes on a loaded machine.
var conflictBackoff = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.1}

// updateSpec changes obj (its kind, namespace and name; it holds the result afterwards) as a
// person does while the controllers write the same object: read it fresh, mutate, update, and
// again on a conflict. Any other error fails the spec at once.
func updateSpec[T client.Object](obj T, mutate func(T)) {
	GinkgoHelper()
	Expect(updateFresh(obj, mutate, func(o T) error { return k8sClient.Update(ctx, o) })).To(Succeed())
}

// updateStatus is updateSpec for the status subresource (as a cloud, an ingress controller or
// the receiver writes it).
func updateStatus[T client.Object](obj T, mutate func(T)) {
	GinkgoHelper()
	Expect(updateFresh(obj, mutate, func(o T) error { return k8sClient.Status().Update(ctx, o) })).To(Succeed())
}

func updateFresh[T client.Object](obj T, mutate func(T), update func(T) error) error {
	k := client.ObjectKeyFromObject(obj)
	return retry.RetryOnConflict(conflictBackoff, func() error {
		// Decoding into a used object keeps what the server left out (map keys, omitted
		// fields): start from zero.
		reflect.ValueOf(obj).Elem().SetZero()
		if err := k8sClient.Get(ctx, k, obj); err != nil {
			return err
		}
		mutate(obj)
		return update(obj)
	})
}
