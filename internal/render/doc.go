// Package render turns a JitsiDeployment (and what the operator observed about it) into the
// child objects it wants: Secrets, ConfigMaps, Deployments and Services, and the conditions that
// describe it. It is pure: same input, same output. It imports no client, clock, environment or
// global state; the reconcilers fill Input and apply what comes out.
package render
