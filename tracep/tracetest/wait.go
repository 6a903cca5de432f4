package tracetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Context returns a context that ends shortly before t's deadline (a tenth
// of the time left, at most five seconds, stays to report the failure), or
// when t ends.
func Context(t testing.TB) context.Context {
	ctx := t.Context()
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return ctx
	}
	deadline, ok := d.Deadline()
	if !ok {
		return ctx
	}
	grace := min(time.Until(deadline)/10, 5*time.Second)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(-grace))
	t.Cleanup(cancel)
	return ctx
}

// changes wakes the goroutines waiting for a change of a value guarded by
// mu. Its zero value is ready.
type changes struct {
	mu   sync.Mutex
	wake chan struct{} // closed at the next change
}

// changed wakes every waiter. Called with mu held.
func (c *changes) changed() {
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// await calls check with mu held, after every change, until it reports
// done or ctx ends.
func await[T any](ctx context.Context, c *changes, check func() (T, bool)) (T, error) {
	for {
		c.mu.Lock()
		v, done := check()
		if c.wake == nil {
			c.wake = make(chan struct{})
		}
		wake := c.wake
		c.mu.Unlock()
		if done {
			return v, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return v, fmt.Errorf("waiting: %w", context.Cause(ctx))
		}
	}
}
