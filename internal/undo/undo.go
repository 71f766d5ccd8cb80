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

// Run runs the cleanups newest first, on a fresh context (the caller's may
// be the reason for the failure), reporting each error to log.
func (s Stack) Run(log func(error)) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for i := len(s) - 1; i >= 0; i-- {
		if err := s[i](ctx); err != nil {
			log(err)
		}
	}
}
