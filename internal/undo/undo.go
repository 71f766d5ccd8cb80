// Package undo collects the cleanups of a multi-step creation so that a
// failure at any step undoes the steps before it, newest first.
package undo

import (
	"context"
	"time"
)

// Timeout bounds running the cleanups.
const Timeout = 2 * time.Minute

// Stack is a stack of cleanups. The zero value is ready to use.
type Stack []func(context.Context) error

// Push adds a cleanup to run if the creation fails.
func (s *Stack) Push(f func(context.Context) error) { *s = append(*s, f) }

// Run runs the cleanups newest first, reporting each error to log. They
// run without ctx's cancellation and deadline (the caller's may be the
// reason for the failure) but with its values, so that the containerd
// calls of the clean-up appear in the failed call's trace.
func (s Stack) Run(ctx context.Context, log func(error)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	for i := len(s) - 1; i >= 0; i-- {
		if err := s[i](ctx); err != nil {
			log(err)
		}
	}
}
