package tracetest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Collector gathers the events of a session: pass its Emit method as the
// session's emit callback. It is safe for concurrent use; its zero value
// is ready.
type Collector struct {
	c      changes // guards the fields below
	evs    []tracep.Event
	closed bool
	late   int
}

// Emit records ev.
func (c *Collector) Emit(ev tracep.Event) {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	if c.closed {
		c.late++
	}
	c.evs = append(c.evs, ev)
	c.c.changed()
}

// Events returns the events recorded so far, in the order they came.
func (c *Collector) Events() []tracep.Event {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	return slices.Clone(c.evs)
}

// Select returns the events recorded so far for which keep holds.
func (c *Collector) Select(keep func(tracep.Event) bool) []tracep.Event {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	return filter(c.evs, keep)
}

func filter(evs []tracep.Event, keep func(tracep.Event) bool) []tracep.Event {
	var out []tracep.Event
	for _, ev := range evs {
		if keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// WaitN waits until at least n recorded events satisfy keep and returns
// them all, or fails with the error of ctx and those recorded so far.
func (c *Collector) WaitN(ctx context.Context, n int, keep func(tracep.Event) bool) ([]tracep.Event, error) {
	return await(ctx, &c.c, func() ([]tracep.Event, bool) {
		got := filter(c.evs, keep)
		return got, len(got) >= n
	})
}

// WaitFor waits for an event satisfying keep and returns the first one; it
// fails t when none came before Context(t) ended.
func (c *Collector) WaitFor(t testing.TB, keep func(tracep.Event) bool) tracep.Event {
	t.Helper()
	got, err := c.WaitN(Context(t), 1, keep)
	if err != nil {
		t.Fatalf("%v; events:\n%s", err, c)
	}
	return got[0]
}

// CloseSession closes s, whose events c collects, and requires that Close
// succeeds: nothing lost. An event emitted after it returns counts as late
// (see Late).
func (c *Collector) CloseSession(t testing.TB, s tracep.Session) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close session: %v", err)
	}
	c.c.mu.Lock()
	c.closed = true
	c.c.mu.Unlock()
}

// Late returns how many events were emitted after CloseSession returned:
// a session must deliver none.
func (c *Collector) Late() int {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	return c.late
}

// String returns the events one per line, for failure messages.
func (c *Collector) String() string { return Lines(c.Events()) }

// Lines renders evs one per line (Event.String), each indented by two
// spaces: for failure messages.
func Lines(evs []tracep.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("  " + ev.String() + "\n")
	}
	return b.String()
}
