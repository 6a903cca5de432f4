package bpfcore

import (
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep/tracetest"
)

// emptyRing returns a reader of a new, empty ring buffer.
func emptyRing(t *testing.T) *ringReader {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: MinRingBytes})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	var asleep uint32
	r, err := newRingReader(m, &asleep)
	require.NoError(t, err)
	t.Cleanup(r.close)
	return r
}

// Readers waiting for a tick all end their waits at the same tick of one
// timer; a wait that ends otherwise stops waiting for it; and a tick that
// finds no reader waiting disarms the timer, so that idle readers cost no
// wake-up.
func TestIntegrationTicks(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "creating ring buffers")
	never := func() bool { return false }
	a, b := emptyRing(t), emptyRing(t)
	type result struct {
		expired bool
		err     error
	}
	results := make(chan result, 2)
	for _, r := range []*ringReader{a, b} {
		go func() {
			expired, err := r.wait(true, never)
			results <- result{expired, err}
		}()
	}
	for range 2 {
		require.Equal(t, result{expired: true}, <-results)
	}

	// A wait ended by its stop function (Close's) leaves the list of
	// waiting readers.
	expired, err := a.wait(true, func() bool { return true })
	require.NoError(t, err)
	require.False(t, expired)
	ticks.mu.Lock()
	require.Empty(t, ticks.waiting)
	stopped := ticks.stopped
	ticks.mu.Unlock()

	<-stopped // the next tick found nobody waiting
	ticks.mu.Lock()
	defer ticks.mu.Unlock()
	require.False(t, ticks.running)
	var spec unix.ItimerSpec
	require.NoError(t, ticks.raw.Control(func(fd uintptr) {
		_, _, errno := unix.Syscall(unix.SYS_TIMERFD_GETTIME, fd, uintptr(unsafe.Pointer(&spec)), 0)
		require.Zero(t, errno)
	}))
	require.Zero(t, spec.Value, "the timer is still armed")
}
