package undo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

type key struct{}

// The cleanups run newest first, all of them whatever fails, without the
// caller's cancellation but with its values.
func TestRunNewestFirstDespiteErrorsAndCancellation(t *testing.T) {
	var s Stack
	var order []int
	for i := range 3 {
		s.Push(func(ctx context.Context) error {
			order = append(order, i)
			if ctx.Err() != nil {
				t.Errorf("cleanup %d runs cancelled: %v", i, ctx.Err())
			}
			if ctx.Value(key{}) != "trace" {
				t.Errorf("cleanup %d lost the context's values", i)
			}
			if d, ok := ctx.Deadline(); !ok || time.Until(d) > Timeout {
				t.Errorf("cleanup %d: deadline %v, want one within %v", i, d, Timeout)
			}
			if i == 1 {
				return errors.New("cleanup 1 failed")
			}
			return nil
		})
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "trace"))
	cancel()
	var logged []error
	s.Run(ctx, func(err error) { logged = append(logged, err) })
	if !slices.Equal(order, []int{2, 1, 0}) {
		t.Errorf("order %v, want newest first", order)
	}
	if len(logged) != 1 || logged[0].Error() != "cleanup 1 failed" {
		t.Errorf("logged %v", logged)
	}
	var empty Stack
	empty.Run(context.Background(), func(err error) { t.Error(err) })
}
