package tracetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func execEvent(pid int32) tracep.Event {
	return tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: pid}, Exec: &tracep.Exec{Op: tracep.ExecOpExec}}
}

func pidIs(pid int32) func(tracep.Event) bool {
	return func(ev tracep.Event) bool { return ev.Proc.PID == pid }
}

// Events emitted concurrently are all kept; a waiter wakes on the one it
// waits for.
func TestCollectorWait(t *testing.T) {
	var c Collector
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				c.Emit(execEvent(int32(w*100 + i)))
			}
		})
	}
	ev := c.WaitFor(t, pidIs(399))
	require.Equal(t, int32(399), ev.Proc.PID)
	got, err := c.WaitN(context.Background(), 100, func(ev tracep.Event) bool { return ev.Proc.PID < 100 })
	require.NoError(t, err)
	require.Len(t, got, 100)
	wg.Wait()
	require.Len(t, c.Events(), 400)
	require.Len(t, c.Select(pidIs(7)), 1)
	require.Contains(t, c.String(), "  [7] exec ")
}

// A wait ends with its context, returning what matched so far.
func TestCollectorWaitEnds(t *testing.T) {
	var c Collector
	c.Emit(execEvent(1))
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		evs []tracep.Event
		err error
	}
	done := make(chan result)
	go func() {
		evs, err := c.WaitN(ctx, 2, pidIs(1))
		done <- result{evs, err}
	}()
	c.Emit(execEvent(2)) // may wake the waiter, which waits on
	cancel()
	r := <-done
	require.ErrorIs(t, r.err, context.Canceled)
	require.Len(t, r.evs, 1)
}

type fakeSession struct{ err error }

func (s fakeSession) Close() error { return s.err }

// Events after CloseSession count as late; a failing Close fails the test.
func TestCollectorCloseSession(t *testing.T) {
	var c Collector
	c.Emit(execEvent(1))
	c.CloseSession(t, fakeSession{})
	require.Zero(t, c.Late())
	c.Emit(execEvent(2))
	require.Equal(t, 1, c.Late())

	lost := &tracep.LostError{Kind: tracep.KindExec, Count: 3}
	require.Equal(t, "fail", Outcome(func(t testing.TB) { new(Collector).CloseSession(t, fakeSession{lost}) }))
	require.Equal(t, "fail", Outcome(func(t testing.TB) { new(Collector).CloseSession(t, fakeSession{errors.New("x")}) }))
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				_, _ = b.Write([]byte("ab"))
			}
		})
	}
	wg.Go(func() { _, _ = b.Write([]byte("done\n")) })
	require.Contains(t, b.WaitFor(t, "done\n"), "done\n")
	wg.Wait()
	require.Len(t, b.String(), 400+5)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := b.Wait(ctx, func(s string) bool { return len(s) > 1000 })
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, got, 405)
}

// Context ends before the test's deadline.
func TestContext(t *testing.T) {
	ctx := Context(t)
	require.NoError(t, ctx.Err())
	if d, ok := t.Deadline(); ok {
		end, ok := ctx.Deadline()
		require.True(t, ok)
		require.True(t, end.Before(d))
	}
}

// WaitLine returns a line only once it is whole.
func TestBufferWaitLine(t *testing.T) {
	var b Buffer
	go func() {
		for _, s := range []string{"pid 7\nlisten 127.0.0.1:", "80", "\nport 5"} {
			_, _ = b.Write([]byte(s))
		}
	}()
	require.Equal(t, "listen 127.0.0.1:80", b.WaitLine(t, "listen "))
	require.Equal(t, "pid 7", b.WaitLine(t, "pid"))
}
