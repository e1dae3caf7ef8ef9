package controllers_test

import (
	"context"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jitsiv1alpha1 "github.com/jitsi-operator/jitsi-operator/api/v1alpha1"
	"github.com/jitsi-operator/jitsi-operator/controllers"
	"github.com/jitsi-operator/jitsi-operator/internal/meeting"
	"github.com/jitsi-operator/jitsi-operator/internal/render"
)

// managerCache is a cache with the manager's options (main.go and the suite pass
// controllers.CacheOptions), started and synced for the rest of the spec.
func managerCache() cache.Cache {
	GinkgoHelper()
	opts := controllers.CacheOptions()
	opts.Scheme = scheme
	c, err := cache.New(cfg, opts)
	Expect(err).NotTo(HaveOccurred())
	cctx, stop := context.WithCancel(ctx)
	DeferCleanup(stop)
	go func() {
		defer GinkgoRecover()
		Expect(c.Start(cctx)).To(Succeed())
	}()
	Expect(c.WaitForCacheSync(cctx)).To(BeTrue())
	return c
}

// The manager caches only the Secrets the operator creates. A Secret a user names in a spec is
// read by name from the API server, and its changes still wake what depends on it.
var _ = Describe("The manager's Secret cache", func() {
	It("holds only the operator's own Secrets, while the controllers use and follow a user's signing secret", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing", Namespace: ns},
			Data: map[string][]byte{"key": []byte("first-user-signing-secret")}})).To(Succeed())
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app", SecretRef: &jitsiv1alpha1.SecretKeyReference{Name: "signing", Key: "key"}}
			d.Spec.JVB.Replicas = ptr(int32(1))
		})
		newMeeting(ns, "retro")

		By("signing the Meeting's tokens with the user's secret")
		signedWith := func(signingKey string) func(Gomega) {
			return func(g Gomega) {
				s := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), s)).To(Succeed())
				_, err := jwt.ParseWithClaims(string(s.Data[meeting.KeyModeratorToken]), &meeting.Claims{},
					func(*jwt.Token) (any, error) { return []byte(signingKey), nil }, jwt.WithoutClaimsValidation())
				g.Expect(err).NotTo(HaveOccurred())
			}
		}
		Eventually(signedWith("first-user-signing-secret"), "60s").Should(Succeed())
		prosodyHash := func(g Gomega) string {
			return deploymentOf(ns, "meet-prosody")(g).Spec.Template.Annotations["jitsi.operator.dev/config-hash"]
		}
		Eventually(prosodyHash).ShouldNot(BeEmpty(), "the user's secret is hashed into Prosody's pod template")
		before := prosodyHash(Default)

		By("caching the generated and access Secrets, and not the user's")
		c := managerCache()
		Eventually(func(g Gomega) []string {
			var list corev1.SecretList
			g.Expect(c.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			var names []string
			for _, s := range list.Items {
				names = append(names, s.Name)
			}
			return names
		}).Should(ConsistOf("meet-generated", "retro-access"))
		err := c.Get(ctx, key(ns, "signing"), &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the user's Secret in the cache: %v", err)
		Expect(k8sClient.Get(ctx, key(ns, "signing"), &corev1.Secret{})).To(Succeed())

		By("re-signing the tokens and rolling Prosody when the user rotates the secret")
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signing"}}, func(s *corev1.Secret) {
			s.Data["key"] = []byte("second-user-signing-secret")
		})
		Eventually(signedWith("second-user-signing-secret"), "60s").Should(Succeed())
		Eventually(prosodyHash).ShouldNot(Equal(before))
		err = c.Get(ctx, key(ns, "signing"), &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the rotated Secret in the cache: %v", err)
	})
	It("holds a Meeting's access Secret without its tokens, and restores one edited by hand", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app"}
			d.Spec.JVB.Replicas = ptr(int32(1))
		})
		newMeeting(ns, "retro")
		issued := &corev1.Secret{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), issued)).To(Succeed())
			g.Expect(issued.Data).To(HaveKey(meeting.KeyModeratorToken))
		}, "60s").Should(Succeed())

		By("keeping in the cache the data's digest, not the data")
		c := managerCache()
		held := &corev1.Secret{}
		Eventually(func() error { return c.Get(ctx, key(ns, "retro-access"), held) }).Should(Succeed())
		Expect(held.Data).To(BeEmpty(), "no URL or token in the cache")
		Expect(held.Annotations).To(HaveKeyWithValue("jitsi.operator.dev/cached-data-sha256", Not(BeEmpty())))
		Expect(held.ResourceVersion).To(Equal(issued.ResourceVersion))

		By("rewriting the tokens someone changed by hand")
		updateSpec(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "retro-access"}}, func(s *corev1.Secret) {
			s.Data[meeting.KeyModeratorToken] = []byte("not-a-token")
		})
		Eventually(func(g Gomega) {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), s)).To(Succeed())
			g.Expect(s.Data[meeting.KeyModeratorToken]).To(Equal(issued.Data[meeting.KeyModeratorToken]))
		}, "30s").Should(Succeed())
	})
	It("re-signs a Meeting's tokens when the generated signing secret is made anew", func() {
		ns := newNamespace()
		newJitsi(ns, func(d *jitsiv1alpha1.JitsiDeployment) {
			d.Spec.Auth.JWT = &jitsiv1alpha1.JWTAuthSpec{AppID: "app"}
			d.Spec.JVB.Replicas = ptr(int32(1))
		})
		newMeeting(ns, "retro")
		signingKey := func(g Gomega) []byte {
			s := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, key(ns, "meet-generated"), s)).To(Succeed())
			g.Expect(s.Data[render.KeyJWTSecret]).NotTo(BeEmpty())
			return s.Data[render.KeyJWTSecret]
		}
		signedWith := func(k []byte) func(Gomega) {
			return func(g Gomega) {
				s := &corev1.Secret{}
				g.Expect(k8sClient.Get(ctx, key(ns, "retro-access"), s)).To(Succeed())
				_, err := jwt.ParseWithClaims(string(s.Data[meeting.KeyModeratorToken]), &meeting.Claims{},
					func(*jwt.Token) (any, error) { return k, nil }, jwt.WithoutClaimsValidation())
				g.Expect(err).NotTo(HaveOccurred())
			}
		}
		var first []byte
		Eventually(func(g Gomega) { first = signingKey(g) }, "60s").Should(Succeed())
		Eventually(signedWith(first), "60s").Should(Succeed())

		By("deleting the generated Secret: the operator makes a new signing key, and the tokens follow it")
		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "meet-generated"}})).To(Succeed())
		var second []byte
		Eventually(func(g Gomega) {
			second = signingKey(g)
			g.Expect(second).NotTo(Equal(first))
		}, "60s").Should(Succeed())
		Eventually(signedWith(second), "60s").Should(Succeed())
	})
})
