package controllers

import (
	"context"
	"fmt"
)

// step is one named concern of a reconcile: it ensures that concern and records what it
// observed in obs.
type step[T, O any] struct {
	name string
	run  func(ctx context.Context, obj T, obs O) error
}

// runSteps runs the steps in order and stops at the first error, wrapped with the step's name
// ("media: apply Service meet-jvb-0: ...").
func runSteps[T, O any](ctx context.Context, obj T, obs O, steps ...step[T, O]) error {
	for _, s := range steps {
		if err := s.run(ctx, obj, obs); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}
