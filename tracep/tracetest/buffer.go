package tracetest

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers, which
// can wait for what is written. Its zero value is ready.
type Buffer struct {
	c changes // guards b
	b bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.changed()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return b.b.String()
}

// Wait waits until cond holds for what was written and returns it, or
// fails with the error of ctx and what was written so far.
func (b *Buffer) Wait(ctx context.Context, cond func(string) bool) (string, error) {
	return await(ctx, &b.c, func() (string, bool) {
		s := b.b.String()
		return s, cond(s)
	})
}

// WaitFor waits until what was written contains substr and returns it; it
// fails t when that did not happen before Context(t) ended.
func (b *Buffer) WaitFor(t testing.TB, substr string) string {
	t.Helper()
	s, err := b.Wait(Context(t), func(s string) bool { return strings.Contains(s, substr) })
	if err != nil {
		t.Fatalf("no %q written: %v; written:\n%s", substr, err, s)
	}
	return s
}

// WaitLine waits for a whole line that starts with prefix and returns it,
// without its newline; it fails t when none came before Context(t) ended.
func (b *Buffer) WaitLine(t testing.TB, prefix string) string {
	t.Helper()
	var line string
	s, err := b.Wait(Context(t), func(s string) bool {
		for l := range strings.Lines(s) {
			if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, "\n") {
				line = strings.TrimSuffix(l, "\n")
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no line %q... written: %v; written:\n%s", prefix, err, s)
	}
	return line
}
